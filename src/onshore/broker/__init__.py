"""Onshore broker."""

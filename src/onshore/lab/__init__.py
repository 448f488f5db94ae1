"""Onshore lab."""

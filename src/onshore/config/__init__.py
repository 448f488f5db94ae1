"""Onshore config."""

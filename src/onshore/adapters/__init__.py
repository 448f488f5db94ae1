"""Onshore adapters."""

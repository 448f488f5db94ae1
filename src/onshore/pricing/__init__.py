"""Onshore pricing."""

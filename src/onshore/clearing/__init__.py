"""Onshore clearing."""

"""Onshore core."""

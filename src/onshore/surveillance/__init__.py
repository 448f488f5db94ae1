"""Onshore surveillance."""

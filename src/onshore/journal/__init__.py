"""Onshore journal."""

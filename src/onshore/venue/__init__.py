"""Onshore venue."""

"""Onshore: an open venue for perpetual futures."""

__version__ = "0.1.0"

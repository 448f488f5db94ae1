"""The Venue: the deterministic state machine composing book, pricing and clearing."""

from onshore.venue.venue import Venue, VenueStopped

__all__ = ["Venue", "VenueStopped"]

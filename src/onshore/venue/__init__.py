"""The Venue: the deterministic state machine composing book, pricing and clearing."""

from onshore.venue.errors import VenueStopped
from onshore.venue.venue import Venue

__all__ = ["Venue", "VenueStopped"]

"""Onshore surveillance: the regulator's reports and market-abuse alerts, computed from events (read-only).

- :mod:`~onshore.surveillance.engine`: :class:`Surveillance`, one streaming pass over the
  events (O(1) per event) that keeps every report and detector;
- :mod:`~onshore.surveillance.detectors`: wash trading, spoofing and layering,
  manipulation around funding, index manipulation, concentration, cancel ratios and
  accountability levels;
- :mod:`~onshore.surveillance.config`: the thresholds (a ``[surveillance]`` TOML table) and
  the venue facts the events do not repeat;
- :mod:`~onshore.surveillance.tables`: the reports' columns, written as CSV, JSON Lines or
  Parquet.

Nothing here changes venue state, and nothing here imports the Venue: the adapters
(``onshore report``) replay commands or read the journal and hand the events over.
See docs/surveillance.md.
"""

from onshore.surveillance.alerts import Alert
from onshore.surveillance.config import (
    MarketFacts,
    SurveillanceConfig,
    SurveillanceConfigError,
    VenueFacts,
    load_surveillance_config,
    venue_facts,
)
from onshore.surveillance.engine import Surveillance, SurveillanceResult

__all__ = [
    "Alert",
    "MarketFacts",
    "Surveillance",
    "SurveillanceConfig",
    "SurveillanceConfigError",
    "SurveillanceResult",
    "VenueFacts",
    "load_surveillance_config",
    "venue_facts",
]

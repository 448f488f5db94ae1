"""Errors of the clearing layer (kept out of the compiled modules: mypyc cannot subclass them)."""


class LedgerError(AssertionError):
    """A ledger invariant is broken, or a caller asked for an impossible movement.

    Callers validate before they move money; reaching this is a bug, and the Venue
    stops rather than continue with unaudited balances.
    """

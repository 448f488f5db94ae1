"""Errors of the Venue (kept out of the compiled modules: mypyc cannot subclass them)."""


class VenueStopped(RuntimeError):
    """The Venue hit a broken invariant and refuses further commands."""

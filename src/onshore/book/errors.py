"""Errors of the book (kept out of the compiled modules: mypyc cannot subclass them)."""


class BookInvariantError(AssertionError):
    """A broken book invariant: the book must not be used further."""

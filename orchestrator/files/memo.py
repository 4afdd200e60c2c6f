"""What a line reader read from the text of each entry: remembered in this process and, through
files/entry_cache.py, across commands.

A command that edits one entry reads every other entry again to check its write; every command
reads every entry. An entry reads as a function of its text and a context (the tier table for
the catalog, the environment for a tfvars), so the text is the key.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

C = TypeVar("C", bound=Hashable)  # the context an entry is read in
V = TypeVar("V")  # what the reader reads from an entry


@functools.lru_cache(maxsize=1 << 16)  # a command asks for each entry's digest up to 3 times
def digest(chunk: str) -> str:
    """The key of an entry's text in the entry cache."""
    return hashlib.blake2b(chunk.encode(), digest_size=16).hexdigest()


class Entries(Generic[C, V]):
    """The entries one reader read (None: not in the reader's form), by text and context."""

    LIMIT = 20_000  # a long-lived process (a test run) starts afresh past it

    def __init__(self) -> None:
        self.read: dict[tuple[str, C], V | None] = {}
        # Set by entry_cache.used() for the length of a command: what an earlier command read,
        # by (digest, context), and the keys (text, context) read meanwhile.
        self.remembered: dict[tuple[str, C], V] = {}
        self.touched: set[tuple[str, C]] | None = None

    def get(self, chunk: str, context: C, read: Callable[[str, C], V | None]) -> V | None:
        key = (chunk, context)
        if self.touched is not None:
            self.touched.add(key)
        if key not in self.read:
            if len(self.read) >= self.LIMIT:
                self.read.clear()
            held = self.remembered.get((digest(chunk), context)) if self.remembered else None
            self.read[key] = held if held is not None else read(chunk, context)
        return self.read[key]

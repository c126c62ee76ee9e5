"""Small least-recently-used maps: per-example interpreters and features are large, and so
is what a large table derives."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """Keeps the `limit` most recently used values; `get(key, make)` builds missing ones.

    An example's interpreter caches grow to about a megabyte; an epoch over
    WikiTableQuestions would hold ten thousand of them, so long-lived
    processes keep only the recent ones.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._values: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, make: Callable[[], V]) -> V:
        value = self._values.get(key)
        if value is None:
            value = make()
            self._values[key] = value
            if len(self._values) > self.limit:
                self._values.popitem(last=False)
        else:
            self._values.move_to_end(key)
        return value

    def peek(self, key: K) -> V | None:
        """The value of `key` (made most recent), or None."""
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self._values)

    def values(self) -> list[V]:
        return list(self._values.values())


def by_identity(limit: int) -> Callable[[Callable[[Any], V]], Callable[[Any], V]]:
    """Memoise a function of one table (a dict) for the `limit` tables last seen, by the
    identity of the table and of each of its values.

    What a program context, entity linking and the encoder's input derive from
    a table is the same for every question about it; on a table of 10,000
    rows it costs a second a question. A table whose rows (or any other field)
    are replaced by a new list is a new key; one changed in place is not, so
    tables are built whole and then only read. The cache holds the tables it
    keys, so no other object can take their ids. Thread-safe (serve's threads).
    """

    def decorate(function: Callable[[Any], V]) -> Callable[[Any], V]:
        cache: LRU[tuple[int, ...], tuple[Any, V]] = LRU(limit)
        lock = threading.Lock()

        @functools.wraps(function)
        def memoised(table: Any) -> V:
            parts = (table, *table.values()) if isinstance(table, dict) else (table,)
            key = tuple(map(id, parts))
            with lock:
                hit = cache.peek(key)
            if hit is not None:
                return hit[1]
            result = function(table)
            with lock:
                cache.get(key, lambda: (parts, result))
            return result

        return memoised

    return decorate

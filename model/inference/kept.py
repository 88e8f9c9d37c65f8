"""Values built on demand and kept, least recently used dropped: the bounded caches that
an engine's parts own (projection matrices, batch layouts)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Kept(Generic[V]):
    """Values by key, kept up to ``max_items`` of them and ``max_bytes`` in all (each value's
    size by ``size_of``), least recently used dropped; the newest is kept even if it alone
    is over. Safe to share between threads: a value is built outside the lock, so two threads
    may build the same one, harmlessly (the first kept wins)."""

    def __init__(
        self,
        max_items: int | None = None,
        max_bytes: int | None = None,
        size_of: Callable[[V], int] = lambda value: 0,
    ):
        self.max_items, self.max_bytes, self.size_of = max_items, max_bytes, size_of
        self.nbytes = 0  # what the kept values hold
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable, build: Callable[[], V]) -> V:
        """The value kept under ``key``, or ``build()``'s, now kept."""
        with self._lock:
            found = self._values.get(key)
            if found is not None:
                self._values.move_to_end(key)
                return found
        found = build()
        with self._lock:
            if key in self._values:
                return self._values[key]
            self._values[key] = found
            self.nbytes += self.size_of(found)
            while len(self._values) > 1 and (
                (self.max_items is not None and len(self._values) > self.max_items)
                or (self.max_bytes is not None and self.nbytes > self.max_bytes)
            ):
                self.nbytes -= self.size_of(self._values.popitem(last=False)[1])
        return found

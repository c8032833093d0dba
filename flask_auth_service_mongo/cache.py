"""A bounded in-process cache whose fills never undo an eviction.

A fill is announced (``begin``) before its database read and lands
(``fill``) only if no eviction of that key happened in between: a read that
was in flight while a change removed the entry cannot bring it back.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional


class GuardedLRU:
    """A thread-safe LRU mapping of at most ``size`` entries with guarded
    fills; ``group(value)`` (optional) names the entries ``evict_group`` drops."""

    def __init__(self, size: int, group: Optional[Callable[[Any], Hashable]] = None):
        self.size = size
        self.group = group
        self.lock = threading.Lock()
        self.entries: OrderedDict[Hashable, Any] = OrderedDict()
        self.groups: dict[Hashable, set[Hashable]] = {}
        self.pending: dict[Hashable, int] = {}
        self.tokens = itertools.count(1)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: Hashable) -> Any:
        """The entry of ``key`` (now the most recently used), or None. Without
        the lock: each step is atomic, and an entry evicted in between is
        simply not moved (a get just before the eviction would return it too)."""
        value = self.entries.get(key)
        if value is not None:
            try:
                self.entries.move_to_end(key)
            except KeyError:
                pass
        return value

    def begin(self, key: Hashable) -> int:
        """Announce a read for ``key``; the token its ``fill`` must show."""
        with self.lock:
            token = self.pending.get(key)
            if token is None:
                token = self.pending[key] = next(self.tokens)
            return token

    def fill(self, key: Hashable, token: int, value: Any) -> bool:
        """Store ``value`` unless ``key`` was evicted since ``begin``."""
        with self.lock:
            if self.pending.get(key) != token:
                return False
            del self.pending[key]
            if value is None:
                return False
            self._drop(key)
            self.entries[key] = value
            if self.group is not None:
                self.groups.setdefault(self.group(value), set()).add(key)
            while len(self.entries) > self.size:
                self._drop(next(iter(self.entries)))
            return True

    def update(self, key: Hashable, change: Callable[[Any], Any]) -> None:
        """Replace the entry of ``key`` (if any) by ``change(entry)``, same group."""
        with self.lock:
            if key in self.entries:
                self.entries[key] = change(self.entries[key])

    def evict(self, key: Hashable) -> None:
        with self.lock:
            self._drop(key)
            self.pending.pop(key, None)

    def evict_group(self, name: Hashable) -> None:
        """Evict the entries of group ``name``, and every fill in flight."""
        with self.lock:
            for key in list(self.groups.get(name, ())):
                self._drop(key)
            self.pending.clear()

    def evict_where(self, test: Callable[[Hashable, Any], bool]) -> None:
        """Evict every entry for which ``test(key, value)`` holds, and every
        fill in flight (they cannot be tested yet)."""
        with self.lock:
            # A snapshot: a ``get`` may reorder the entries meanwhile (it takes no lock).
            for key in [key for key, value in list(self.entries.items()) if test(key, value)]:
                self._drop(key)
            self.pending.clear()

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.groups.clear()
            self.pending.clear()

    def _drop(self, key: Hashable) -> None:
        value = self.entries.pop(key, None)
        if value is not None and self.group is not None:
            name = self.group(value)
            members = self.groups.get(name)
            if members is not None:
                members.discard(key)
                if not members:
                    del self.groups[name]

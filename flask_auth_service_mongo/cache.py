"""Bounded in-process caches whose fills never undo an eviction, and the
cache of loaded users that serves ``auth.current_user()``.

A fill is announced (``begin``) before its database read and lands
(``fill``) only if no eviction of that key happened in between: a read that
was in flight while a change removed the entry cannot bring it back.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional

import mongoengine
from bson import ObjectId

#: A loaded ``models.User`` (not imported: models imports sessions, which imports this).
User = Any

USERS_MAX = 10_000


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
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
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
            for key in [key for key, value in self.entries.items() if test(key, value)]:
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


#: (database name, user id, user stamp) -> User: each session of a user has
#: its own stamp until the user changes.
LOADED_USERS = GuardedLRU(USERS_MAX, group=lambda user: user.pk)


def remember_user(user: User, stamp: Optional[str]) -> None:
    """Keep ``user`` as loaded for sessions carrying ``stamp`` (a login's own)."""
    if stamp is not None:
        key = (mongoengine.get_db().name, user.pk, stamp)
        LOADED_USERS.fill(key, LOADED_USERS.begin(key), user)


def find_active_user(
    user_id: ObjectId, stamp: Optional[str], load: Callable[[ObjectId], Optional[User]]
) -> Optional[User]:
    """The active user of the session whose user stamp is ``stamp``.

    Every change of a user or role through the library gives its sessions a
    new stamp, so a user loaded under the same stamp is still what MongoDB
    holds. ``load`` reads the active user (``User.find_active``). The returned
    object is shared: change it only to save it.
    """
    if stamp is None:  # sessions written before stamps existed
        return load(user_id)
    key = (mongoengine.get_db().name, user_id, stamp)
    user = LOADED_USERS.get(key)
    if user is not None:
        return user
    token = LOADED_USERS.begin(key)
    user = load(user_id)
    if user is not None:
        user.role_name  # noqa: B018 - load the role now, not on a shared object later
        LOADED_USERS.fill(key, token, user)
    return user


def forget_user(user_id: ObjectId) -> None:
    """Drop every loaded version of a user (changed around the models)."""
    LOADED_USERS.evict_group(user_id)


def forget_users(database_name: str) -> None:
    """Drop every loaded user of a database (a role changed around the models)."""
    LOADED_USERS.evict_where(lambda key, _: isinstance(key, tuple) and key[0] == database_name)

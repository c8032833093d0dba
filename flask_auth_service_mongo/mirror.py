"""``AUTH_SESSION_CACHE``: a per-process mirror of the sessions read, kept
current by a MongoDB change stream.

Each process (a forked worker too) opens, on its first guarded request, one
change stream on the ``session``, ``user`` and ``role`` collections and
follows it in a background thread. Every answer to the stream's getMore,
even an empty one, confirms that the mirror held everything committed before
it was asked; the mirror is trusted only while that confirmation is at most
``AUTH_SESSION_CACHE_MAX_LAG_MS`` old. Otherwise (database down, stream
broken, not yet open) ``sessions.find_live`` reads MongoDB as without the
cache. A fill is announced before its read, and lands only if no change to
that session arrived meanwhile (``cache.GuardedLRU``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime
from typing import Any, Callable, Mapping, Optional

from bson import ObjectId
from pymongo.change_stream import ChangeStream
from pymongo.database import Database
from pymongo.errors import InvalidOperation, OperationFailure, PyMongoError

from .cache import GuardedLRU
from .database import MOCK_SCHEME, RawDocument
from .records import SessionRecord

log = logging.getLogger("flask_auth_service_mongo")

SESSIONS, USERS, ROLES = "session", "user", "role"
#: Inserts change nothing held (the mirror keeps no "no such session").
PIPELINE = [
    {
        "$match": {
            "$or": [
                {"ns.coll": {"$in": [SESSIONS, USERS, ROLES]}, "operationType": {"$ne": "insert"}},
                {"operationType": {"$in": ["dropDatabase", "invalidate"]}},
            ]
        }
    }
]
#: Session fields that decide nothing a guarded request reads.
BOOKKEEPING = frozenset({"last_used_at", "refresh_jti", "prev_refresh_jti", "rotated_at"})
#: Change events after which the whole mirror is dropped.
DROPPING = frozenset({"drop", "dropDatabase", "rename", "invalidate"})
#: OperationFailure codes meaning the stream's history is gone.
HISTORY_LOST = frozenset({136, 280, 286})
RETRY_SECONDS = (0.05, 0.1, 0.2, 0.5, 1.0)
NEVER = float("-inf")


class Mirror:
    """The sessions this process has read from one database, followed by a
    change stream in a thread of this process."""

    def __init__(self, database: Database[RawDocument], max_lag_ms: int, size: int, timeout_ms: int):
        self.database = database
        self.max_lag = max_lag_ms / 1000
        # Well under the bound, and under the socket timeout of the client.
        self.await_ms = max(5, min(max_lag_ms // 5, timeout_ms // 2))
        self.sessions = GuardedLRU(size, group=lambda record: record.user_id)
        self.confirmed = NEVER  # monotonic time the last answered getMore was sent
        self.resume_token: Optional[Mapping[str, Any]] = None
        self.unsupported = False
        self.pid = os.getpid()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.follow, name="flask-auth-session-cache", daemon=True)
        self.thread.start()

    def trusted(self) -> bool:
        return time.monotonic() - self.confirmed <= self.max_lag

    def find_live(
        self, session_id: str, user_id: ObjectId, now: datetime, read: Callable[[], Optional[SessionRecord]]
    ) -> Optional[SessionRecord]:
        """The live session from the mirror while it is trusted, else ``read()``
        (which fills the mirror)."""
        hit: Optional[SessionRecord] = self.sessions.get(session_id)
        if hit is not None and self.trusted():
            return hit if hit.user_id == user_id and hit.expires_at > now else None
        token = self.sessions.begin(session_id)
        # Checked after the announcement: a stream reopened from scratch
        # cleared it, and was not trusted before it covered this read.
        trusted = self.trusted()
        found = read()
        if trusted:
            self.sessions.fill(session_id, token, found)
        return found

    def used(self, session_id: str, when: datetime) -> None:
        """A last-use write for ``session_id`` was made (here, or elsewhere)."""

        self.sessions.update(session_id, lambda record: record.used(when))

    def stop(self) -> None:
        self.stopped.set()

    # -- the thread ---------------------------------------------------------------

    def follow(self) -> None:
        failures = 0
        opened_once = False
        while not self.stopped.is_set():
            try:
                with self.database.watch(
                    PIPELINE, resume_after=self.resume_token, max_await_time_ms=self.await_ms
                ) as stream:
                    opened_once = True
                    failures = 0
                    self.read_stream(stream)
            except InvalidOperation:
                self.confirmed = NEVER
                return  # the client was closed: the models reconnected elsewhere
            except OperationFailure as error:
                self.confirmed = NEVER
                if not opened_once:
                    self.unsupported = True
                    log.warning("AUTH_SESSION_CACHE is off: the server refused a change stream (code %s)", error.code)
                    return
                # History lost, or a resume the server keeps refusing: start over.
                if self.resume_token is None or error.code in HISTORY_LOST or failures >= 2:
                    log.warning("session cache: change stream history lost, the mirror is dropped")
                    self.reset()
                failures += 1
            except PyMongoError as error:
                self.confirmed = NEVER
                if failures == 0:
                    log.warning("session cache: change stream interrupted (%s), reading MongoDB", type(error).__name__)
                failures += 1
            self.stopped.wait(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1] if failures else 0)

    def read_stream(self, stream: ChangeStream[RawDocument]) -> None:
        """Apply every batch, and confirm the mirror after each getMore answer."""
        while not self.stopped.is_set() and stream.alive:
            asked = time.monotonic()
            change = stream.try_next()  # nothing is buffered: one getMore
            while change is not None:
                if not self.apply(change):
                    self.reset()
                    return
                # pymongo keeps the rest of the batch in its cursor (no getMore).
                change = stream.try_next() if stream._cursor._has_next() else None
            self.resume_token = stream.resume_token
            self.confirmed = asked

    def apply(self, change: RawDocument) -> bool:
        """Evict what ``change`` may have changed; False when the stream ended."""
        kind = change["operationType"]
        if kind in DROPPING:
            return False
        collection, key = change.get("ns", {}).get("coll"), change.get("documentKey", {}).get("_id")
        if collection == SESSIONS:
            if kind == "update" and self.bookkeeping_only(change):
                # Another process's last-use write: the idle timeout reads it.
                used = change["updateDescription"]["updatedFields"].get("last_used_at")
                if used is not None:
                    self.used(key, used)
                return True
            self.sessions.evict(key)
        elif collection == USERS:
            self.sessions.evict_group(key)  # records carry their user as it was
        elif collection == ROLES:
            self.sessions.clear()  # roles change rarely: start the records over
        return True

    @staticmethod
    def bookkeeping_only(change: RawDocument) -> bool:
        described = change.get("updateDescription") or {}
        fields = set(described.get("updatedFields") or ()) | set(described.get("removedFields") or ())
        return fields <= BOOKKEEPING

    def reset(self) -> None:
        """Start over from now: nothing held may have been followed."""
        self.confirmed = NEVER
        self.resume_token = None
        self.sessions.clear()


def supported(uri: str, database: Database[RawDocument]) -> bool:
    """Whether ``uri`` can have change streams; warns once when it cannot."""
    if uri.startswith(MOCK_SCHEME):
        log.warning("AUTH_SESSION_CACHE is off: mongomock has no change streams")
        return False
    try:
        database.watch(PIPELINE, max_await_time_ms=1).close()
    except OperationFailure as error:
        log.warning("AUTH_SESSION_CACHE is off: the server refused a change stream (code %s)", error.code)
        return False
    except PyMongoError:
        pass  # unreachable now: the mirror tries again on the first request
    return True

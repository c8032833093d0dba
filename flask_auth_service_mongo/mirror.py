"""``AUTH_SESSION_CACHE``: a per-process mirror of the sessions read, kept
current by a MongoDB change stream, trusted only on proof.

Each process (a forked worker too) opens, on its first guarded request, one
change stream on the ``session``, ``user`` and ``role`` collections and
follows it in a background thread. An answer of the stream proves nothing by
itself (a mongos holds events of an active shard while answering empty
batches; a batch may be one of a backlog), so the mirror proves itself with
a *watermark*: while requests are served, the thread upserts this process's
document of ``auth_mirror_watermark`` with the next sequence number, every
``AUTH_SESSION_CACHE_MAX_LAG_MS / 4``. When that write comes back
through the stream, every change committed before it was sent has been
applied, and the mirror is trusted until that moment plus the bound.
Otherwise (database down, stream broken or late, not yet open, idle)
``store.SessionStore.find_live`` reads MongoDB as without the cache.

A fill is announced before its read, and lands only if no change to that
session arrived meanwhile (``cache.GuardedLRU``); a read that finds no
session evicts it. A stream that cannot prove it is continuous (a watermark
missing from the sequence, a resume point the server no longer holds when
trust is regained after a lapse) starts the mirror over.
"""

from __future__ import annotations

import enum
import logging
import os
import secrets
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Literal, Mapping, Optional, Protocol, Union

from bson import ObjectId
from pymongo.change_stream import ChangeStream
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import InvalidOperation, OperationFailure, PyMongoError

from .cache import GuardedLRU
from .database import ACKNOWLEDGED, MOCK_SCHEME, RawDocument
from .records import SessionRecord

log = logging.getLogger("flask_auth_service_mongo")

SESSIONS, USERS, ROLES = "session", "user", "role"
#: One small document per process: the proof that its stream is current.
WATERMARKS = "auth_mirror_watermark"
#: A process's watermark document outlives its last write by this long.
WATERMARK_TTL = timedelta(days=1)
FOLLOWED = [SESSIONS, USERS, ROLES]
#: Session fields that decide nothing a guarded request reads.
BOOKKEEPING = frozenset({"last_used_at", "refresh_jti", "prev_refresh_jti", "rotated_at"})
#: Change events after which the whole mirror is dropped.
DROPPING = frozenset({"drop", "dropDatabase", "rename", "invalidate"})
#: OperationFailure codes meaning the stream's history is gone.
HISTORY_LOST = frozenset({136, 280, 286})
RETRY_SECONDS = (0.05, 0.1, 0.2, 0.5, 1.0)
#: Watermarks go on this long after the last guarded request (a process
#: serving now and then stays proven), then stop until the next one.
IDLE_SECONDS = 10.0
#: How much longer than its await a turn of the stream's loop may take before
#: the stream must show it missed nothing (a resume from the last proof).
STALL_MARGIN_SECONDS = 0.1
#: Watermarks sent and not yet delivered that are remembered.
IN_FLIGHT_MAX = 64
NEVER = float("-inf")


class _Absent(enum.Enum):
    NOT_HELD = "not held"


#: ``Mirror.held``'s answer when only a read can tell.
NOT_HELD = _Absent.NOT_HELD
Held = Union[SessionRecord, None, Literal[_Absent.NOT_HELD]]


class Process:
    """This process's id, kept current by a fork hook: the guard checks it
    each request without a system call."""

    pid = os.getpid()


def _forked() -> None:
    Process.pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def pipeline(mark_id: Optional[str] = None) -> list[dict[str, Any]]:
    """The stream's filter: changes to what the mirror holds (inserts change
    nothing held: it keeps no "no such session"), and this process's watermark."""
    followed: list[dict[str, Any]] = [
        {"ns.coll": {"$in": FOLLOWED}, "operationType": {"$ne": "insert"}},
        {"operationType": "rename", "to.coll": {"$in": FOLLOWED}},
        {"operationType": {"$in": ["dropDatabase", "invalidate"]}},
    ]
    if mark_id is not None:
        followed.append({"ns.coll": WATERMARKS, "documentKey._id": mark_id})
    return [{"$match": {"$or": followed}}]


class CacheListener(Protocol):
    """Told of the mirror's hits and lag (the metrics)."""

    def cache_hit(self) -> None: ...

    def cache_lag(self, seconds: float) -> None: ...


class Mirror:
    """The sessions this process has read from one database, followed by a
    change stream in a thread of this process and proven current by its
    watermark."""

    def __init__(
        self,
        database: Database[RawDocument],
        max_lag_ms: int,
        size: int,
        timeout_ms: int,
        listener: Optional[CacheListener] = None,
    ):
        self.database = database
        self.listener = listener
        self.max_lag = max_lag_ms / 1000
        # Well under the bound, and under the socket timeout of the client.
        self.await_ms = max(5, min(max_lag_ms // 5, timeout_ms // 2))
        #: A turn of the stream's loop longer than this makes its continuity suspect.
        self.stall = self.await_ms / 1000 + STALL_MARGIN_SECONDS
        self.suspect = False
        self.mark_interval = self.max_lag / 4
        self.sessions = GuardedLRU(size, group=lambda record: record.user_id)
        self.mark_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"
        self.marks: Collection[RawDocument] = database.get_collection(WATERMARKS, write_concern=ACKNOWLEDGED)
        self.pipeline = pipeline(self.mark_id)
        #: Monotonic time a watermark that came back was sent: every change
        #: committed before it is applied. The mirror is trusted until it + bound.
        self.proven = NEVER
        #: The stream is open, or resuming, with nothing missed since it started.
        self.following = False
        self.wanted = NEVER  # monotonic time of the last guarded request
        self.last_mark = NEVER  # monotonic time the last watermark was sent
        self.written = 0  # the last watermark sequence number sent
        self.seen = 0  # the last one the stream delivered
        self.sent_at: dict[int, float] = {}
        self.unsure: set[int] = set()  # sent, but the write failed: maybe applied
        self.indexed = False
        self.refused = False  # a watermark write was refused (warned once)
        self.resume_token: Optional[Mapping[str, Any]] = None
        #: The resume token of the last watermark that proved the mirror.
        self.checkpoint: Optional[Mapping[str, Any]] = None
        self.unsupported = False
        self.pid = Process.pid
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.follow, name="flask-auth-session-cache", daemon=True)
        self.thread.start()

    def trusted(self, at: Optional[float] = None) -> bool:
        """Whether the last proof is within the bound at ``at`` (default: now, monotonic)."""
        return (time.monotonic() if at is None else at) - self.proven <= self.max_lag

    def lag_seconds(self) -> float:
        """How old the last proof is (infinite before the first one)."""
        return max(0.0, time.monotonic() - self.proven)

    def held(self, session_id: str, user_id: Optional[ObjectId], now: datetime) -> Held:
        """While the mirror is trusted and holds ``session_id``: that session
        if it is live and of ``user_id`` (None: any user), else None (refused
        without a read). ``NOT_HELD`` otherwise: only a read can tell."""
        wanted = self.wanted = time.monotonic()
        # Trust first (``trusted``, inline): what the proof covers was applied before it was set.
        if wanted - self.proven > self.max_lag:
            return NOT_HELD
        hit: Optional[SessionRecord] = self.sessions.get(session_id)
        if hit is None:
            return NOT_HELD
        if self.listener is not None:
            self.listener.cache_hit()
        same_user = user_id is None or user_id == hit.user_id
        return hit if same_user and hit.expires_at > now else None

    def find_live(
        self,
        session_id: str,
        user_id: Optional[ObjectId],
        now: datetime,
        read: Callable[[], Optional[SessionRecord]],
    ) -> Optional[SessionRecord]:
        """The live session from the mirror while it is trusted, else ``read()``
        (which fills the mirror, or evicts the session when it finds none). ``user_id``
        None: a personal access token, found by its id alone."""
        held = self.held(session_id, user_id, now)
        if held is not NOT_HELD:
            return held
        token = self.sessions.begin(session_id)
        # Checked after the announcement: a stream started over cleared it,
        # and follows nothing until it is open again.
        following = self.following
        found = read()
        if found is None:
            self.sessions.evict(session_id)  # a refusal is never followed by a stale acceptance
        elif following:
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
                fresh = self.resume_token is None
                with self.database.watch(
                    self.pipeline, resume_after=self.resume_token, max_await_time_ms=self.await_ms
                ) as stream:
                    opened_once = True
                    failures = 0
                    if fresh:
                        self.start()
                    self.read_stream(stream)
            except InvalidOperation:
                self.proven = NEVER
                return  # the client was closed: the models reconnected elsewhere
            except OperationFailure as error:
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
                if failures == 0:
                    log.warning("session cache: change stream interrupted (%s), reading MongoDB", type(error).__name__)
                failures += 1
            self.stopped.wait(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1] if failures else 0)

    def start(self) -> None:
        """A stream opened from now: it follows every later change, and
        delivers only the watermarks sent from now on."""
        self.seen = self.written
        self.unsure.clear()
        self.sent_at.clear()
        self.following = True

    def read_stream(self, stream: ChangeStream[RawDocument]) -> None:
        """Apply every change in order, writing watermarks while requests come."""
        last = time.monotonic()
        while not self.stopped.is_set() and stream.alive:
            self.mark_when_needed()
            change = stream.try_next()  # the next change, or None after an empty answer
            now = time.monotonic()
            if now - last > self.stall:
                # This thread lost time (the process paused, the server slow):
                # history may have been pruned under the cursor meanwhile.
                self.suspect = True
            last = now
            if self.listener is not None:
                self.listener.cache_lag(self.lag_seconds())
            if change is not None and not self.apply(change):
                self.reset()
                return
            self.resume_token = stream.resume_token

    def mark_when_needed(self) -> None:
        """Send the next watermark every quarter of the bound while guarded
        requests come (none once the process has been idle ``IDLE_SECONDS``),
        without waiting for the last one to come back."""
        now = time.monotonic()
        if now - self.wanted > IDLE_SECONDS or now - self.last_mark < self.mark_interval:
            return
        self.last_mark = now
        self.written += 1
        number = self.written
        self.sent_at[number] = now
        if len(self.sent_at) > IN_FLIGHT_MAX:  # never delivered: too old to prove anything
            del self.sent_at[min(self.sent_at)]
        try:
            self.ensure_index()
            expires_at = datetime.now(timezone.utc).replace(tzinfo=None) + WATERMARK_TTL
            self.marks.update_one(
                {"_id": self.mark_id}, {"$set": {"seq": number, "expires_at": expires_at}}, upsert=True
            )
        except PyMongoError as error:
            # Maybe written: the sequence may skip it. A server down breaks
            # the stream too; one refusing this write leaves strict reads.
            self.unsure.add(number)
            if len(self.unsure) > IN_FLIGHT_MAX:  # forgotten: its absence is then a gap, and starts over
                self.unsure.discard(min(self.unsure))
            if isinstance(error, OperationFailure) and not self.refused:
                self.refused = True
                log.warning("session cache: the watermark write was refused (code %s), reading MongoDB", error.code)

    def ensure_index(self) -> None:
        """The TTL index that removes the watermarks of processes gone (once)."""
        if not self.indexed:
            self.marks.create_index("expires_at", expireAfterSeconds=0)
            self.indexed = True

    def apply(self, change: RawDocument) -> bool:
        """Evict what ``change`` may have changed; False when the mirror must
        start over (the stream ended, or cannot prove it is continuous)."""
        kind = change["operationType"]
        if kind in DROPPING:
            self.wanted = NEVER  # no watermark (that would recreate a dropped database) before a request
            return False
        collection, key = change.get("ns", {}).get("coll"), change.get("documentKey", {}).get("_id")
        if collection == WATERMARKS:
            return self.watermark(change)
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
            self.sessions.evict_where(lambda _, __: True)  # roles change rarely: start the records over
        return True

    def watermark(self, change: RawDocument) -> bool:
        """This process's watermark came back: everything committed before it
        was sent is applied. False on a gap in the sequence, or when trust had
        lapsed or the stream's thread lost time, and the stream cannot show it
        missed nothing since the last proof."""
        described = change.get("updateDescription") or {}
        number = (described.get("updatedFields") or change.get("fullDocument") or {}).get("seq")
        if not isinstance(number, int) or number <= self.seen:
            return True  # replayed by a resume, or not a write of the sequence
        if number > self.written or any(missed not in self.unsure for missed in range(self.seen + 1, number)):
            log.warning("session cache: the change stream skipped history, the mirror is dropped")
            return False
        sent = self.sent_at.get(number, NEVER)
        self.seen = number
        for done in [key for key in self.sent_at if key < number]:
            del self.sent_at[done]
        self.unsure = {unsure for unsure in self.unsure if unsure > number}
        if time.monotonic() - sent > self.max_lag:
            return True  # too late to prove anything: strict reads go on
        if (sent - self.proven > self.max_lag or self.suspect) and self.checkpoint is not None:
            self.suspect = False
            if not self.continuous():
                return False
        self.checkpoint = change["_id"]
        self.proven = max(self.proven, sent)
        return True

    def continuous(self) -> bool:
        """Whether the server still holds the history since the last proof
        (a live cursor may skip what was pruned; a resume from it may not)."""
        try:
            self.database.watch(self.pipeline, resume_after=self.checkpoint, max_await_time_ms=1).close()
        except OperationFailure as error:
            if error.code in HISTORY_LOST:
                log.warning("session cache: the history since the last proof is gone, the mirror is dropped")
                return False
            raise
        return True

    @staticmethod
    def bookkeeping_only(change: RawDocument) -> bool:
        described = change.get("updateDescription") or {}
        fields = set(described.get("updatedFields") or ()) | set(described.get("removedFields") or ())
        return fields <= BOOKKEEPING

    def reset(self) -> None:
        """Start over from now: nothing held may have been followed."""
        self.proven = NEVER
        self.following = False
        self.resume_token = None
        self.checkpoint = None
        self.sessions.clear()


def supported(uri: str, database: Database[RawDocument]) -> bool:
    """Whether ``uri`` can have change streams; warns once when it cannot."""
    if uri.startswith(MOCK_SCHEME):
        log.warning("AUTH_SESSION_CACHE is off: mongomock has no change streams")
        return False
    try:
        database.watch(pipeline(), max_await_time_ms=1).close()
    except OperationFailure as error:
        log.warning("AUTH_SESSION_CACHE is off: the server refused a change stream (code %s)", error.code)
        return False
    except PyMongoError:
        pass  # unreachable now: the mirror tries again on the first request
    return True

"""Login throttling, counted in MongoDB so that it holds across processes.

Every login attempt with a well-formed body takes one slot from three
counters before the password is checked, in this order: one for the client's
IP whatever the usernames (``AUTH_LOGIN_IP_MAX_ATTEMPTS``, 0 for none), one
for the username from that IP (``AUTH_LOGIN_MAX_ATTEMPTS``) and one for the
username from everywhere (``AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS``). A used-up IP
counter refuses before any per-username counter is written.

A counter holds ``count``, its failures plus its attempts in flight, and
``pending``, those in flight. Taking a slot is one atomic update that admits
an attempt only while ``count`` is under the limit, so a burst of parallel
guesses cannot slip past a limit, and at most ``limit`` password checks of
one counter run at once. Only failures lock out: an attempt that finds the
slots taken by attempts still in flight waits for them (up to
``MAX_WAIT_SECONDS``) instead of being refused, so parallel correct logins
from one office all pass, and it answers 429 once ``count - pending``, the
failures, reaches the limit.

An attempt ends as a success (``reset``: the username+IP counter forgets its
failures, the two others get their slot back and keep the failures of other
clients until they expire) or, when its app context ends without one, as a
failure (its slots stay counted, no longer in flight): a refusal, a locked
counter met after others were taken, an error. A process that dies
meanwhile leaves its slots counted as failures.

A counter is forgotten ``AUTH_LOGIN_LOCKOUT_SECONDS`` after its last counted
attempt (a TTL index lets MongoDB drop it); a used-up counter stays locked
for that long and attempts made meanwhile do not extend it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import Counter
from contextlib import nullcontext
from datetime import timedelta
from itertools import chain
from typing import ContextManager, Optional

from flask import g
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

from .clock import utcnow
from .database import RawDocument, access_collection
from .errors import ServiceUnavailable, TooManyAttempts
from .state import get_state

COLLECTION = "login_attempt"
#: How long an attempt waits for the attempts in flight ahead of it, and
#: the pauses between its looks (doubling from the first to the last).
MAX_WAIT_SECONDS = 10.0
FIRST_PAUSE, LAST_PAUSE = 0.005, 0.05
#: Tries of a compare-and-set on one counter before giving up on it.
CAS_TRIES = 5
OPEN_ATTEMPTS = "_auth_open_attempts"  # in flask.g: the slots this app context holds
IN_MEMORY_WRITES = threading.Lock()
log = logging.getLogger("flask_auth_service_mongo")


def collection() -> Collection[RawDocument]:
    """The counters, with journaled writes and primary reads."""
    return access_collection(COLLECTION)


def atomic() -> ContextManager[object]:
    """Around a counter write: MongoDB applies each update atomically, the
    in-memory backend (mongomock) in several steps, so there a lock of the
    process makes the writes of its threads atomic (its only clients)."""
    return nullcontext() if isinstance(collection(), Collection) else IN_MEMORY_WRITES


def ensure_index() -> None:
    """The TTL index that lets MongoDB drop forgotten counters."""
    collection().create_index("expires_at", expireAfterSeconds=0)


def counter_ids(purpose: str, username: str, ip: str) -> tuple[str, str, str]:
    """Ids of the client IP, the username+IP and the username counters of one
    ``purpose`` (hashed: any length, any characters, and no usernames kept)."""

    def digest(*parts: str) -> str:
        joined = "\x00".join(parts).encode("utf-8", "surrogatepass")
        return hashlib.sha256(joined).hexdigest()

    return digest(purpose, "client", ip), digest(purpose, "ip", username, ip), digest(purpose, "account", username)


def open_attempts() -> dict[tuple[str, str, str], list[list[str]]]:
    """This app context's attempts in flight: by their counter ids, the
    counters each has taken so far."""
    if OPEN_ATTEMPTS not in g:
        setattr(g, OPEN_ATTEMPTS, {})
    found: dict[tuple[str, str, str], list[list[str]]] = getattr(g, OPEN_ATTEMPTS)
    return found


def take_attempt(username: str, ip: str, purpose: str = "login") -> None:
    """Count one attempt to prove a password; TooManyAttempts when a limit is used up."""
    settings = get_state().settings
    window = timedelta(seconds=settings.login_lockout_seconds)
    ids = counter_ids(purpose, username, ip)
    client, pair, account = ids
    taken: list[str] = []
    open_attempts().setdefault(ids, []).append(taken)  # ended by reset or with the app context
    if settings.login_ip_max_attempts:
        try:
            take(client, settings.login_ip_max_attempts, window)
        except TooManyAttempts:
            log.warning("%s locked out for client %s (any username)", purpose, ip)
            raise
        taken.append(client)
    try:
        take(pair, settings.login_max_attempts, window)
        taken.append(pair)
        take(account, settings.login_account_max_attempts, window)
        taken.append(account)
    except TooManyAttempts:
        log.warning("%s locked out for %r from %s", purpose, username[:128], ip)
        raise


def take(counter_id: str, limit: int, window: timedelta) -> None:
    """Take a slot of one counter, waiting while attempts in flight hold the
    free ones; TooManyAttempts when its failures reach ``limit`` or the wait
    lasts ``MAX_WAIT_SECONDS``."""
    waited, pause, expired_retries = 0.0, FIRST_PAUSE, 3
    while True:
        now = utcnow()
        live = {"_id": counter_id, "expires_at": {"$gt": now}}
        try:
            with atomic():
                collection().update_one(
                    {**live, "count": {"$lt": limit}},
                    {"$inc": {"count": 1, "pending": 1}, "$set": {"expires_at": now + window}},
                    upsert=True,
                )
            return
        except DuplicateKeyError:
            # The counter exists but is used up, or expired and not yet
            # dropped by the TTL monitor (then start it again).
            pass
        held = collection().find_one(live, {"count": 1, "pending": 1, "expires_at": 1})
        if held is None:
            expired_retries -= 1
            if not expired_retries:
                raise ServiceUnavailable()
            with atomic():
                collection().delete_one({"_id": counter_id, "expires_at": {"$lte": now}})
            continue
        if held["count"] - held.get("pending", 0) >= limit:
            raise TooManyAttempts(max(1, math.ceil((held["expires_at"] - now).total_seconds())))
        if waited >= MAX_WAIT_SECONDS:
            raise TooManyAttempts(1)
        time.sleep(pause)  # attempts in flight hold the free slots: wait for one to end
        waited, pause = waited + pause, min(LAST_PAUSE, pause * 2)


def reset(username: str, ip: str, purpose: str = "login") -> None:
    """A success: forget the failures of that username from that IP, and give
    back the slot this attempt took from the IP and the account counters
    (their other failures stay counted until they expire).

    Outside the app context that took the attempt (a second step of a login
    in a later request), its slots were counted as a failure: they are given
    back all the same.
    """
    client, pair, account = ids = counter_ids(purpose, username, ip)
    attempts = open_attempts().get(ids)
    taken = attempts.pop() if attempts else []
    forget_failures(pair, in_flight=pair in taken)
    for in_flight in (True, False):
        ids_ = [counter_id for counter_id in (client, account) if (counter_id in taken) == in_flight]
        if ids_:
            step = {"count": -1, "pending": -1} if in_flight else {"count": -1}
            with atomic():
                collection().update_many({"_id": {"$in": ids_}, "count": {"$gt": 0}}, {"$inc": step})


def forget_failures(counter_id: str, in_flight: bool) -> None:
    """Leave in a counter only the other attempts in flight (ours ends now)."""
    own = 1 if in_flight else 0
    with atomic():
        if collection().delete_one({"_id": counter_id, "pending": {"$lte": own}}).deleted_count:
            return
    for _ in range(CAS_TRIES):
        held = collection().find_one({"_id": counter_id}, {"count": 1, "pending": 1})
        if held is None:
            return
        others = max(0, held.get("pending", 0) - own)
        state = {"_id": counter_id, "count": held["count"], "pending": held.get("pending", 0)}
        with atomic():
            if collection().update_one(state, {"$set": {"count": others, "pending": others}}).matched_count:
                return
    # Too busy to forget: at least give our slot back.
    with atomic():
        collection().update_one({"_id": counter_id, "count": {"$gt": 0}}, {"$inc": {"count": -1, "pending": -own}})


def end_open_attempts(error: Optional[BaseException] = None) -> None:
    """Teardown of the app context: its attempts still in flight are failures
    (their slots stay counted, no longer in flight)."""
    attempts = getattr(g, OPEN_ATTEMPTS, None)
    if not attempts:
        return
    held = Counter(counter_id for taken in chain(*attempts.values()) for counter_id in taken)
    attempts.clear()
    try:
        for times in set(held.values()):
            ids = [counter_id for counter_id, count in held.items() if count == times]
            with atomic():
                collection().update_many(
                    {"_id": {"$in": ids}, "pending": {"$gte": times}}, {"$inc": {"pending": -times}}
                )
    except PyMongoError as failure:
        # They stay in flight until the counters expire: waiters meanwhile get 429.
        log.warning("could not end %d login attempts in flight: %s", len(held), type(failure).__name__)

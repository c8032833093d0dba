"""Login throttling, counted in MongoDB so that it holds across processes.

Every login attempt with a well-formed body takes one slot from three
counters before the password is checked, in this order: one for the client's
IP whatever the usernames (``AUTH_LOGIN_IP_MAX_ATTEMPTS``, 0 for none), one
for the username from that IP (``AUTH_LOGIN_MAX_ATTEMPTS``) and one for the
username from everywhere (``AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS``). A used-up IP
counter refuses before any per-username counter is written. Taking the slot
first, in one atomic update, means a burst of parallel guesses cannot slip
past a limit; so the counters count failures, a success gives its slots back:
it deletes the username+IP counter and returns one slot to the two others,
which keep the failures of other clients until they expire on their own.

A counter is forgotten ``AUTH_LOGIN_LOCKOUT_SECONDS`` after its last counted
attempt (a TTL index lets MongoDB drop it); a used-up counter stays locked
for that long and attempts made meanwhile do not extend it.
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import datetime, timedelta

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from .clock import utcnow
from .database import RawDocument, access_collection
from .errors import ServiceUnavailable, TooManyAttempts
from .state import get_state

COLLECTION = "login_attempt"
log = logging.getLogger("flask_auth_service_mongo")


def collection() -> Collection[RawDocument]:
    """The counters, with journaled writes and primary reads."""
    return access_collection(COLLECTION)


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


def take_attempt(username: str, ip: str, purpose: str = "login") -> None:
    """Count one attempt to prove a password; TooManyAttempts when a limit is used up."""
    settings = get_state().settings
    now = utcnow()
    window = timedelta(seconds=settings.login_lockout_seconds)
    client, pair, account = counter_ids(purpose, username, ip)
    if settings.login_ip_max_attempts:
        try:
            take(client, settings.login_ip_max_attempts, now, window)
        except TooManyAttempts:
            log.warning("%s locked out for client %s (any username)", purpose, ip)
            raise
    try:
        take(pair, settings.login_max_attempts, now, window)
        take(account, settings.login_account_max_attempts, now, window)
    except TooManyAttempts:
        log.warning("%s locked out for %r from %s", purpose, username[:128], ip)
        raise


def take(counter_id: str, limit: int, now: datetime, window: timedelta) -> None:
    live = {"_id": counter_id, "expires_at": {"$gt": now}}
    for _ in range(3):
        try:
            collection().update_one(
                {**live, "count": {"$lt": limit}},
                {"$inc": {"count": 1}, "$set": {"expires_at": now + window}},
                upsert=True,
            )
            return
        except DuplicateKeyError:
            # The counter exists but is used up, or expired and not yet
            # dropped by the TTL monitor (then start it again).
            pass
        held = collection().find_one({**live, "count": {"$gte": limit}}, {"expires_at": 1})
        if held is not None:
            raise TooManyAttempts(max(1, math.ceil((held["expires_at"] - now).total_seconds())))
        collection().delete_one({"_id": counter_id, "expires_at": {"$lte": now}})
    raise ServiceUnavailable()


def reset(username: str, ip: str, purpose: str = "login") -> None:
    """A success: forget the failures of that username from that IP, and give
    back the slot this attempt took from the IP and the account counters
    (their other failures stay counted until they expire)."""
    client, pair, account = counter_ids(purpose, username, ip)
    collection().delete_one({"_id": pair})
    collection().update_many({"_id": {"$in": [client, account]}, "count": {"$gt": 0}}, {"$inc": {"count": -1}})

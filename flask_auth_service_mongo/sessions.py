"""The session store: one document per login, rotated on refresh.

A session document carries everything a guarded request needs (the user id,
the role name, the change-password flag, expiry), so the check is a single
``find_one`` on the primary filtered by session id and user id together
(or none, from the ``mirror`` of ``AUTH_SESSION_CACHE``). Changes to users and
roles are pushed into their sessions (by ``service``), with a new user stamp;
every change made here is evicted from this process's mirror at once.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from bson import DBRef, ObjectId
from pymongo import ReturnDocument
from pymongo.collection import Collection

from . import mirror
from .database import ACKNOWLEDGED, RawDocument, access_collection

COLLECTION = "session"
#: 0.1.8's sessions: ``{uuid_access, uuid_refresh, user: DBRef("user", id), created_at}``.
LEGACY_TOKENS = "whitelist_token"
USER_AGENT_MAX = 256
IP_MAX = 64
CHECK_FIELDS = {
    "user": 1,
    "role": 1,
    "change_password": 1,
    "last_used_at": 1,
    "authenticated_at": 1,
    "user_stamp": 1,
    "expires_at": 1,
}


def utcnow() -> datetime:
    """Now, as the naive UTC datetime MongoDB stores (millisecond precision)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(moment: Optional[datetime]) -> Optional[str]:
    """A stored (naive UTC) time as every answer writes it: ISO 8601 with a ``Z``."""
    return moment.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


def collection() -> Collection[RawDocument]:
    """The session collection with journaled writes and primary reads."""
    return access_collection(COLLECTION)


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


def new_user_stamp() -> str:
    """A session's ``user_stamp``: renewed whenever its user or role changes,
    so a user loaded under one stamp is known current (``cache``)."""
    return secrets.token_urlsafe(12)


def insert(
    session_id: str,
    user_id: ObjectId,
    role: Optional[str],
    change_password: bool,
    refresh_jti: str,
    expires_at: datetime,
    ip: Optional[str],
    user_agent: Optional[str],
    now: datetime,
    user_stamp: Optional[str] = None,
) -> None:
    collection().insert_one(
        {
            "_id": session_id,
            "user": user_id,
            "role": role,
            "change_password": bool(change_password),
            "refresh_jti": refresh_jti,
            "created_at": now,
            "last_used_at": now,
            "authenticated_at": now,
            "expires_at": expires_at,
            "ip": ip[:IP_MAX] if ip else None,
            "user_agent": user_agent[:USER_AGENT_MAX] if user_agent else None,
            "user_stamp": user_stamp,
        }
    )


def find_live(session_id: str, user_id: ObjectId, now: datetime) -> Optional[RawDocument]:
    """The hot path: the live session, or None. One round trip, or none when
    the session cache holds it (``mirror``)."""

    def read() -> Optional[RawDocument]:
        return collection().find_one({"_id": session_id, "user": user_id, "expires_at": {"$gt": now}}, CHECK_FIELDS)

    cache = mirror.current()
    return read() if cache is None else cache.find_live(session_id, user_id, now, read)


def touch(session_id: str, user_id: ObjectId, last_used_at: Optional[datetime], now: datetime, interval: int) -> None:
    """Record the last use, at most once per ``interval`` seconds a session.

    Not a write that decides access, so it skips the journaled majority.
    """
    if last_used_at is not None and now - last_used_at < timedelta(seconds=interval):
        return
    collection().with_options(write_concern=ACKNOWLEDGED).update_one(
        {"_id": session_id, "user": user_id, "last_used_at": last_used_at}, {"$set": {"last_used_at": now}}
    )
    mirror.used(session_id, now)  # also when another process wrote it first


def _used_since(query: dict[str, Any], used_since: Optional[datetime]) -> dict[str, Any]:
    """``query`` limited to sessions used after ``used_since`` (None: any)."""
    return query if used_since is None else {**query, "last_used_at": {"$gt": used_since}}


def rotate(
    session_id: str, user_id: ObjectId, presented_jti: str, new_jti: str, now: datetime, used_since: Optional[datetime]
) -> Optional[RawDocument]:
    """Spend ``presented_jti`` and make ``new_jti`` current, atomically.

    Returns the session when the presented token was the current one and the
    session was used after ``used_since``, else None (exactly one of
    concurrent refreshes of one token wins).
    """
    live = _used_since({"_id": session_id, "user": user_id, "expires_at": {"$gt": now}}, used_since)
    return collection().find_one_and_update(
        {**live, "refresh_jti": presented_jti},
        {
            "$set": {
                "refresh_jti": new_jti,
                "prev_refresh_jti": presented_jti,
                "rotated_at": now,
                "last_used_at": now,
            }
        },
        projection={"role": 1, "change_password": 1, "expires_at": 1},
        return_document=ReturnDocument.AFTER,
    )


def find(session_id: str, user_id: ObjectId) -> Optional[RawDocument]:
    return collection().find_one({"_id": session_id, "user": user_id})


def end(session_id: str, user_id: ObjectId) -> bool:
    """End one session of ``user_id``; False when there was none."""
    try:
        return collection().delete_one({"_id": session_id, "user": user_id}).deleted_count == 1
    finally:
        mirror.evict_session(session_id)


def end_all(user_id: ObjectId, keep: Optional[str] = None) -> list[str]:
    """End every session of ``user_id`` except ``keep``; the ids of those ended
    (a session opened while this runs may end unlisted)."""
    query: dict[str, Any] = {"user": user_id}
    if keep:
        query["_id"] = {"$ne": keep}
    try:
        ids = [doc["_id"] for doc in collection().find(query, {"_id": 1})]
        collection().delete_many(query)
    finally:
        mirror.evict_user_sessions(user_id)  # ``keep`` too: it is read again
    return ids


def delete_legacy_tokens(user_id: ObjectId) -> int:
    """Delete the 0.1.8 ``whitelist_token`` documents of ``user_id``.

    This version never accepts them, but 0.1.8 would again after a rollback:
    every session that ends takes them along. Returns how many. (The
    collection has no index on ``user``: it only shrinks after the upgrade,
    and may be dropped whenever 0.1.8's users may sign in again.)
    """
    tokens = access_collection(LEGACY_TOKENS)
    return tokens.delete_many({"user": DBRef("user", user_id)}).deleted_count


def end_listed(user_id: ObjectId, session_ids: list[str]) -> list[str]:
    """End the listed sessions of ``user_id``; the ids of those that existed."""
    if len(session_ids) == 1:
        return session_ids if end(session_ids[0], user_id) else []
    query = {"user": user_id, "_id": {"$in": session_ids}}
    try:
        found = [doc["_id"] for doc in collection().find(query, {"_id": 1})]
        if found:
            collection().delete_many(query)
    finally:
        mirror.evict_user_sessions(user_id)
    return found


def beyond_limit(user_id: ObjectId, now: datetime, limit: int) -> list[str]:
    """The ids of the user's live sessions past the ``limit`` most recently used."""
    live = collection().find({"user": user_id, "expires_at": {"$gt": now}}, {"_id": 1})
    ordered = live.sort([("last_used_at", -1), ("created_at", -1), ("_id", -1)]).skip(limit)
    return [doc["_id"] for doc in ordered]


def mark_authenticated(session_id: str, user_id: ObjectId, now: datetime) -> bool:
    """Record a password check for the session; False when it is gone."""
    try:
        found = collection().update_one(
            {"_id": session_id, "user": user_id, "expires_at": {"$gt": now}},
            {"$set": {"authenticated_at": now, "last_used_at": now}},
        )
    finally:
        mirror.evict_session(session_id)
    return found.matched_count == 1


def list_live(user_id: ObjectId, now: datetime, used_since: Optional[datetime] = None) -> list[RawDocument]:
    projection = {"created_at": 1, "last_used_at": 1, "authenticated_at": 1, "ip": 1, "user_agent": 1}
    live = _used_since({"user": user_id, "expires_at": {"$gt": now}}, used_since)
    return list(collection().find(live, projection).sort("created_at", -1))


def update_user_state(user_id: ObjectId, fields: dict[str, Any]) -> None:
    """Copy a user's role name or change-password flag into their sessions,
    with a new user stamp (also for a change of nothing they copy)."""
    try:
        collection().update_many({"user": user_id}, {"$set": {**fields, "user_stamp": new_user_stamp()}})
    finally:
        mirror.evict_user_sessions(user_id)


def update_role_state(old: Optional[str], new: Optional[str]) -> None:
    """A role was saved (maybe renamed) or deleted (``new`` None): its sessions
    take the new name and a new user stamp."""
    if old is None:
        return
    try:
        collection().update_many({"role": old}, {"$set": {"role": new, "user_stamp": new_user_stamp()}})
    finally:
        mirror.evict_sessions(lambda session: session.get("role") == old)


def clear(now: datetime, forced: bool = False) -> int:
    """Remove expired sessions (every session when ``forced``)."""
    try:
        return collection().delete_many({} if forced else {"expires_at": {"$lte": now}}).deleted_count
    finally:
        mirror.evict_sessions(lambda session: forced or session["expires_at"] <= now)

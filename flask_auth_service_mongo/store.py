"""The session store of one application: the only code that writes or ends sessions.

``init_app`` builds one ``SessionStore`` per app (``get_state().store``). It
owns the app's ``session`` and 0.1.8 ``whitelist_token`` collections and the
app's session cache (``mirror``). A guarded request's check is one command,
``find_live``: an aggregate that joins the session to its user and role as
they are now (however they were written), or none from a proven-current
mirror. Every way a session ends goes through ``end``: delete, evict, 0.1.8
cleanup, ``sessions_ended``.

Personal access tokens are documents of the same collection with ``kind``
``"pat"``: the cache, the TTL index and ``end`` serve them too. ``end`` takes
them along only for the reasons in ``TOKEN_ENDING_REASONS``.

Each session and token keeps digests of the user's password hashes it lived
under (``password_stamps``): one whose user's hash is none of them, however
the password was written, is refused and ended (``password_reset``).
The library's own changes that keep sessions (the user's own change, a hash
upgraded at login) go through ``swap_password``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import datetime
from typing import Any, Callable, Optional

from bson import DBRef, ObjectId
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from . import mirror as mirror_module
from . import signals
from .database import ACKNOWLEDGED, RawDocument, journaled
from .models import User
from .records import SessionRecord, compact_user

COLLECTION = "session"
#: 0.1.8's sessions: ``{uuid_access, uuid_refresh, user: DBRef("user", id), created_at}``.
LEGACY_TOKENS = "whitelist_token"
USERS, ROLES = "user", "role"
USER_AGENT_MAX = 256
IP_MAX = 64
SESSION, TOKEN = "session", "pat"
#: Reasons that end a user's access tokens too (a user's own password change,
#: a logout everywhere, the session cap and the idle timeout leave them).
TOKEN_ENDING_REASONS = frozenset({"deactivated", "deleted", "password_reset", "cleared", "token_revoked"})
LOGINS_ONLY = {"kind": {"$ne": TOKEN}}
#: A token's ``_id`` is its SHA-256 hex digest; users see its first 16 digits.
DIGEST_LENGTH, TOKEN_ID_LENGTH = 64, 16
#: The digests of the password hashes a session or token was opened under.
STAMPS = "password_stamps"


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


class SessionStore:
    """The sessions of one application's database (see the module)."""

    def __init__(
        self,
        database: Database[RawDocument],
        cache: bool = False,
        cache_max_lag_ms: int = 500,
        cache_size: int = 100_000,
        timeout_ms: int = 3000,
        cache_listener: Optional[mirror_module.CacheListener] = None,
    ):
        self.database = database
        self.cache_listener = cache_listener
        self.sessions: Collection[RawDocument] = journaled(database, COLLECTION)
        self.legacy: Collection[RawDocument] = journaled(database, LEGACY_TOKENS)
        self.cache = cache
        self._mirror_options = (cache_max_lag_ms, cache_size, timeout_ms)
        self._mirror: Optional[mirror_module.Mirror] = None
        self._lock = threading.Lock()
        self._shared = SharedValues()

    # -- the session cache ---------------------------------------------------------

    def mirror(self) -> Optional[mirror_module.Mirror]:
        """This process's mirror (opened on first use, again after a fork);
        None with the cache off or refused by the server."""
        if not self.cache:
            return None
        found = self._mirror
        if found is None or found.pid != mirror_module.Process.pid:
            with self._lock:
                found = self._mirror
                if found is None or found.pid != mirror_module.Process.pid:
                    lag, size, timeout = self._mirror_options
                    found = self._mirror = mirror_module.Mirror(self.database, lag, size, timeout, self.cache_listener)
        return None if found.unsupported else found

    def local_mirror(self) -> Optional[mirror_module.Mirror]:
        """The mirror this process already follows, if any (for evictions)."""
        found = self._mirror
        return found if found is not None and found.pid == mirror_module.Process.pid else None

    def _evicting(self, evict: Callable[[mirror_module.Mirror], None]) -> None:
        found = self.local_mirror()
        if found is not None:
            evict(found)

    # -- opening and checking ------------------------------------------------------

    def insert(
        self,
        user: RawDocument,
        role: Optional[str],
        refresh_jti: str,
        expires_at: datetime,
        ip: Optional[str],
        user_agent: Optional[str],
        now: datetime,
        amr: tuple[str, ...] = ("pwd",),
        acr: str = "aal1",
        session_id: Optional[str] = None,
    ) -> str:
        """Open a login session of ``user`` (its stored document); its id."""
        session_id = session_id or new_session_id()
        self.sessions.insert_one(
            {
                "_id": session_id,
                "user": user["_id"],
                "role": role,
                "role_id": _role_id(user),
                "change_password": bool(user.get("change_password")),
                "refresh_jti": refresh_jti,
                "created_at": now,
                "last_used_at": now,
                "authenticated_at": now,
                "expires_at": expires_at,
                "ip": ip[:IP_MAX] if ip else None,
                "user_agent": user_agent[:USER_AGENT_MAX] if user_agent else None,
                "amr": list(amr),
                "acr": acr,
                STAMPS: [password_stamp(user.get("password"))],
            }
        )
        return session_id

    def find_live(self, key: str, user_id: Optional[ObjectId], now: datetime) -> Optional[SessionRecord]:
        """The full check's lookup: the live session ``key`` of ``user_id`` (None: of ``_id``
        ``key`` alone) joined to its active user and role, or None. One command,
        or none from a proven-current mirror."""
        cache = self.mirror()
        if cache is None:
            return self._read_live(key, user_id, now)
        return cache.find_live(key, user_id, now, lambda: self._read_live(key, user_id, now))

    def find_token(self, token_digest: str, now: datetime) -> Optional[SessionRecord]:
        """The live personal access token of that digest, joined like a session
        (by ``_id`` alone: a token does not name its user); or None."""
        record = self.find_live(token_digest, None, now)
        return record if record is not None and record.kind == TOKEN else None

    def _read_live(self, key: str, user_id: Optional[ObjectId], now: datetime) -> Optional[SessionRecord]:
        """The check's one command: the session of that ``_id`` and user
        (routed to one shard when sharded by either), or the token of that
        ``_id``, joined to its user and role; its expiry, the user's state and
        the password stamps checked here (stale ones end). No ``$project``:
        what it would leave out is a few small fields, and on SecantusDB it
        costs a sixth of the read's time."""
        match: dict[str, Any] = {"_id": key} if user_id is None else {"_id": key, "user": user_id}
        pipeline: list[dict[str, Any]] = [
            {"$match": match},
            {"$lookup": {"from": USERS, "localField": "user", "foreignField": "_id", "as": "u"}},
            {"$lookup": {"from": ROLES, "localField": "role_id", "foreignField": "_id", "as": "r"}},
        ]
        found = next(iter(self.sessions.aggregate(pipeline)), None)
        if found is None or found["expires_at"] <= now or not found["u"]:
            return None
        user = found["u"][0]
        if user.get("active") is False:
            return None
        if not password_kept(found, user.get("password")) and self.confirm_stale(found["user"], found["_id"]):
            return None
        role = found["r"][0] if found["r"] else None
        if _role_id(user) != found.get("role_id"):
            # The user's role was changed around the library (or the session
            # predates role ids): read it, and remember it in the session.
            role = self._read_role(found["_id"], user)
        return self._shared.record(found, user, role)

    def confirm_stale(self, user_id: ObjectId, session_id: str) -> bool:
        """Whether the session was opened under another password than its
        user's, both read again, the user first (a read that joined them may
        have crossed a ``swap_password``); if so the user's stale sessions and
        tokens end: the password was changed around the library (a queryset
        ``update()``, a raw write)."""
        user = self.database[USERS].find_one({"_id": user_id}, {"password": 1})
        session = self.sessions.find_one({"_id": session_id, "user": user_id}, {STAMPS: 1})
        if user is not None and session is not None and password_kept(session, user.get("password")):
            return False
        if user is not None:
            stale = {"user": user_id, STAMPS: {"$exists": True, "$ne": password_stamp(user.get("password"))}}
            self.end(user_id, "password_reset", [doc["_id"] for doc in self.sessions.find(stale, {"_id": 1})])
        return True

    def swap_password(self, user: User, new_hash: str, **fields: Any) -> bool:
        """``User.swap_password`` (False when a concurrent change won), so that
        the sessions and tokens opened under the hash it replaces go on: they
        accept the new hash before the swap, and again after it (those opened
        meanwhile). They keep the stamps of every hash they lived under; a swap
        that lost takes its stamp back."""
        carried = {"user": user.pk, STAMPS: password_stamp(user.password)}
        accepting = {"$addToSet": {STAMPS: password_stamp(new_hash)}}
        self.sessions.update_many(carried, accepting)
        swapped = user.swap_password(new_hash, **fields)
        if swapped:
            self.sessions.update_many(carried, accepting)
        else:
            self.sessions.update_many({"user": user.pk}, {"$pull": {STAMPS: password_stamp(new_hash)}})
        return swapped

    def _read_role(self, session_id: str, user: RawDocument) -> Optional[RawDocument]:
        role_id = _role_id(user)
        role = self.database[ROLES].find_one({"_id": role_id}) if role_id is not None else None
        self.sessions.update_one({"_id": session_id}, {"$set": {"role_id": role_id}})
        return role

    def insert_token(
        self, user: RawDocument, token_digest: str, name: str, scopes: list[str], now: datetime, expires_at: datetime
    ) -> RawDocument:
        """Store a new personal access token of ``user`` (its stored document)
        under its digest; the document stored. Never used yet: no last use."""
        document = {
            "_id": token_digest,
            "kind": TOKEN,
            "user": user["_id"],
            "role_id": _role_id(user),
            "name": name,
            "scopes": scopes,
            "created_at": now,
            "last_used_at": None,
            "expires_at": expires_at,
            STAMPS: [password_stamp(user.get("password"))],
        }
        self.sessions.insert_one(document)
        return document

    def touch(self, record: SessionRecord, now: datetime) -> None:
        """Record the last use (the guard asks at most once per
        ``AUTH_LAST_USED_INTERVAL_SECONDS`` a session; another process may
        have written first).

        Not a write that decides access, so it skips the journaled majority.
        """
        self.sessions.with_options(write_concern=ACKNOWLEDGED).update_one(
            {"_id": record.session_id, "user": record.user_id, "last_used_at": record.last_used_at},
            {"$set": {"last_used_at": now}},
        )
        self._evicting(lambda cache: cache.used(record.session_id, now))  # also when another process wrote first

    def rotate(
        self,
        session_id: str,
        user_id: ObjectId,
        presented_jti: str,
        new_jti: str,
        now: datetime,
        used_since: Optional[datetime],
    ) -> Optional[RawDocument]:
        """Spend ``presented_jti`` and make ``new_jti`` current, atomically.

        Returns the session when the presented token was the current one and the
        session was used after ``used_since``, else None (exactly one of
        concurrent refreshes of one token wins).
        """
        live = _used_since({"_id": session_id, "user": user_id, "expires_at": {"$gt": now}}, used_since)
        return self.sessions.find_one_and_update(
            {**live, "refresh_jti": presented_jti},
            {
                "$set": {
                    "refresh_jti": new_jti,
                    "prev_refresh_jti": presented_jti,
                    "rotated_at": now,
                    "last_used_at": now,
                }
            },
            projection={"role": 1, "change_password": 1, "expires_at": 1, "amr": 1, "acr": 1, STAMPS: 1},
            return_document=ReturnDocument.AFTER,
        )

    def find(self, session_id: str, user_id: ObjectId) -> Optional[RawDocument]:
        return self.sessions.find_one({"_id": session_id, "user": user_id})

    def mark_authenticated(
        self,
        session_id: str,
        user_id: ObjectId,
        now: datetime,
        amr: Optional[tuple[str, ...]] = None,
        acr: Optional[str] = None,
    ) -> bool:
        """Record a fresh check of the user's credentials (with what, when
        ``amr`` and ``acr`` are given); False when the session is gone."""
        fields: dict[str, Any] = {"authenticated_at": now, "last_used_at": now}
        return self._set(session_id, user_id, now, fields, amr, acr)

    def set_assurance(self, session_id: str, user_id: ObjectId, now: datetime, amr: tuple[str, ...], acr: str) -> bool:
        """The session now stands for ``amr`` at ``acr`` (a second factor was
        added or removed under it); False when the session is gone."""
        return self._set(session_id, user_id, now, {}, amr, acr)

    def _set(
        self,
        session_id: str,
        user_id: ObjectId,
        now: datetime,
        fields: dict[str, Any],
        amr: Optional[tuple[str, ...]],
        acr: Optional[str],
    ) -> bool:
        if amr is not None:
            fields["amr"] = list(amr)
        if acr is not None:
            fields["acr"] = acr
        try:
            found = self.sessions.update_one(
                {"_id": session_id, "user": user_id, "expires_at": {"$gt": now}}, {"$set": fields}
            )
        finally:
            self._evicting(lambda cache: cache.sessions.evict(session_id))
        return found.matched_count == 1

    def update_user_state(self, user_id: ObjectId, fields: dict[str, Any]) -> None:
        """Copy a user's role name or change-password flag into its sessions
        (what a refresh answers; the check itself reads the user)."""
        try:
            self.sessions.update_many({"user": user_id}, {"$set": fields})
        finally:
            self._evicting(lambda cache: cache.sessions.evict_group(user_id))

    # -- listing --------------------------------------------------------------------

    def list_live(self, user_id: ObjectId, now: datetime, used_since: Optional[datetime] = None) -> list[RawDocument]:
        """The user's live login sessions, newest first."""
        projection = {"created_at": 1, "last_used_at": 1, "authenticated_at": 1, "ip": 1, "user_agent": 1}
        live = _used_since({"user": user_id, "expires_at": {"$gt": now}, **LOGINS_ONLY}, used_since)
        return list(self.sessions.find(live, projection).sort("created_at", -1))

    def list_tokens(self, user_id: ObjectId, now: datetime) -> list[RawDocument]:
        """The user's live personal access tokens, newest first."""
        projection = {"name": 1, "scopes": 1, "created_at": 1, "last_used_at": 1, "expires_at": 1}
        live = {"user": user_id, "kind": TOKEN, "expires_at": {"$gt": now}}
        return list(self.sessions.find(live, projection).sort([("created_at", -1), ("_id", -1)]))

    def beyond_limit(self, user_id: ObjectId, now: datetime, limit: int) -> list[str]:
        """The ids of the user's live login sessions past the ``limit`` most recently used."""
        live = self.sessions.find({"user": user_id, "expires_at": {"$gt": now}, **LOGINS_ONLY}, {"_id": 1})
        ordered = live.sort([("last_used_at", -1), ("created_at", -1), ("_id", -1)]).skip(limit)
        return [doc["_id"] for doc in ordered]

    # -- ending: the one path -------------------------------------------------------

    def end(
        self, user_id: ObjectId, reason: str, session_ids: Optional[list[str]] = None, keep: Optional[str] = None
    ) -> list[str]:
        """End the user's sessions: those listed, else all but ``keep``; the ids ended.

        ``reason`` says why: ``logout`` (the caller's own, announced as
        ``user_logged_out`` by the flow) or a reason of ``sessions_ended``.
        Access tokens end only for ``TOKEN_ENDING_REASONS``; ``sessions_ended``
        names them by their public id (``public_id``), never their digest. The user's 0.1.8
        tokens go too, so that a rollback cannot revive them.
        """
        if session_ids is not None and not session_ids:
            return []
        query: dict[str, Any] = {"user": user_id}
        if reason not in TOKEN_ENDING_REASONS:
            query.update(LOGINS_ONLY)
        if session_ids is not None:
            query["_id"] = session_ids[0] if len(session_ids) == 1 else {"$in": session_ids}
        elif keep:
            query["_id"] = {"$ne": keep}
        try:
            if session_ids is not None and len(session_ids) == 1:
                ended = session_ids if self.sessions.delete_one(query).deleted_count else []
            else:
                ended = [doc["_id"] for doc in self.sessions.find(query, {"_id": 1})]
                if ended:
                    self.sessions.delete_many(query)
        finally:
            self._evicting(lambda cache: cache.sessions.evict_group(user_id))
        self.legacy.delete_many({"user": DBRef(USERS, user_id)})
        if ended and reason != "logout":
            shown = [public_id(ended_id) for ended_id in ended]
            signals.send(signals.sessions_ended, user_id=user_id, session_ids=shown, reason=reason)
        return ended

    def expired_users(self, now: datetime, forced: bool) -> list[ObjectId]:
        """The users with sessions to clear (every session's user when ``forced``)."""
        query: dict[str, Any] = {} if forced else {"expires_at": {"$lte": now}}
        return list(self.sessions.distinct("user", query))

    def clear_expired(self, now: datetime) -> int:
        """Delete sessions past their expiry (MongoDB's TTL does it too, in its time)."""
        try:
            return self.sessions.delete_many({"expires_at": {"$lte": now}}).deleted_count
        finally:
            self._evicting(lambda cache: cache.sessions.evict_where(lambda _, record: record.expires_at <= now))


def public_id(session_id: str) -> str:
    """How a session or token is named to users and receivers: a session by
    its id, a personal access token (its ``_id`` a 64-hex-digit SHA-256
    digest, never the length of a session id) by the first
    ``TOKEN_ID_LENGTH`` digits, so the digest appears in no event."""
    if len(session_id) == DIGEST_LENGTH and all(c in "0123456789abcdef" for c in session_id):
        return session_id[:TOKEN_ID_LENGTH]
    return session_id


def password_stamp(password_hash: Optional[str]) -> str:
    """What a session keeps of a password hash: a digest of it."""
    return hashlib.blake2b((password_hash or "").encode(), digest_size=16).hexdigest()


def password_kept(session: RawDocument, password_hash: Optional[str]) -> bool:
    """Whether ``session`` was opened under the user's current ``password_hash``
    (one stored before stamps existed: always)."""
    stamps = session.get(STAMPS)
    return stamps is None or password_stamp(password_hash) in stamps


def _role_id(user: RawDocument) -> Optional[ObjectId]:
    """The id the user's ``role`` reference points at (a DBRef, as 0.1.8 stores it)."""
    role = user.get("role")
    return getattr(role, "id", role) if role is not None else None


def _used_since(query: dict[str, Any], used_since: Optional[datetime]) -> dict[str, Any]:
    """``query`` limited to sessions used after ``used_since`` (None: any)."""
    return query if used_since is None else {**query, "last_used_at": {"$gt": used_since}}


class SharedValues:
    """Records made from reads share equal values (roles, ``amr``, scopes,
    codes): a session cache then holds each once, not once a session."""

    MAX = 4096

    def __init__(self) -> None:
        self.values: dict[Any, Any] = {}

    def share(self, value: Any) -> Any:
        """``value``, or an equal one made before (hashable values)."""
        found = self.values.get(value)
        if found is not None:
            return found
        if len(self.values) >= self.MAX:
            self.values.clear()
        self.values[value] = value
        return value

    def role(self, role: Optional[RawDocument]) -> Optional[RawDocument]:
        """An equal role document made before, else ``role`` (kept by its id)."""
        if role is None:
            return None
        key = ("role", role.get("_id"))
        found = self.values.get(key)
        if found == role:
            return found  # type: ignore[no-any-return]
        self.values[key] = role
        return role

    def record(self, found: RawDocument, user: RawDocument, role: Optional[RawDocument]) -> SessionRecord:
        """The record of a session read with its user and role."""
        permissions = (role or {}).get("permissions") or {}
        kind = found.get("kind") or SESSION
        granted = permissions.get("scopes") if isinstance(permissions, dict) else None
        granted = set(granted) if isinstance(granted, (list, tuple)) else set()
        # A token holds its scopes while its user's role still grants them.
        scopes = granted.intersection(found.get("scopes") or ()) if kind == TOKEN else granted
        role = self.role(role)
        return SessionRecord(
            session_id=found["_id"],
            user_id=found["user"],
            expires_at=found["expires_at"],
            role=(role or {}).get("name"),
            change_password=bool(user.get("change_password")),
            last_used_at=found.get("last_used_at"),
            authenticated_at=found.get("authenticated_at"),
            amr=self.share(tuple(found.get("amr") or ("pwd",))),
            acr=self.share(found.get("acr") or "aal1"),
            kind=self.share(kind),
            scopes=self.share(frozenset(s for s in scopes if isinstance(s, str))),
            user=compact_user(user),
            role_document=role,
        )

"""The audit trail: every signal of ``signals`` kept as a document of ``auth_event``.

One receiver for each signal, built the same way for all (no code per
signal): the event's ``kind`` is the signal's name with underscores
(``user_logged_in``, ``login_failed``...), and its document holds the time,
the user (from a ``user`` or ``user_id`` argument, or looked up from a
``username`` one), the session (``session_id``, or ``session_ids``), the IP
and user agent of the request, the ``reason``, and the other plain arguments
in ``details``. Never a secret: arguments whose names speak of passwords,
tokens, codes, keys or secrets are dropped, and so are values that look like
a token; the username of a failed login is used only to find its account
(never stored: it may be a password typed in the wrong field) and an unknown
one leaves the event without a user.

Writes go through ``event_writer`` (off the request's path); on the
in-memory backend they are made at once. MongoDB drops an event
``AUTH_AUDIT_RETENTION_DAYS`` after it happened (a TTL index on
``expires_at``); 0 keeps none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from blinker import NamedSignal
from bson import ObjectId
from bson.errors import InvalidId
from flask import Flask, has_request_context, request
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection

from . import event_writer, signals
from .clock import iso, utcnow
from .database import ACKNOWLEDGED, MOCK_SCHEME, PRIMARY, RawDocument, access_collection
from .errors import BadRequest
from .models import User, canonical_username
from .state import get_state
from .store import IP_MAX, USER_AGENT_MAX

COLLECTION = "auth_event"
DEFAULT_PAGE, MAX_PAGE = 50, 500
#: Arguments that the document holds in fields of their own.
OWN_FIELDS = frozenset({"user", "user_id", "username", "session_id", "session_ids", "reason"})
#: An argument whose name says this may hold a secret: never stored ("..._id" names are ids).
SECRET_NAME = re.compile(r"pass|secret|token|code|key|credential|otp|hash|csrf|assertion|challenge|cookie", re.I)
#: A value shaped like a JWT or one of our opaque tokens.
TOKEN_VALUE = re.compile(r"^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$|^fasm_")
TEXT_MAX, LIST_MAX = 128, 100


def collection() -> Collection[RawDocument]:
    """The events, written with ``w=1``: they decide no access."""
    return access_collection(COLLECTION).with_options(write_concern=ACKNOWLEDGED)


def ensure_indexes() -> None:
    """The TTL index, and the orders the listings read in."""
    events = collection()
    events.create_index("expires_at", expireAfterSeconds=0)
    events.create_index([("user", ASCENDING), ("time", DESCENDING), ("_id", DESCENDING)])
    events.create_index([("time", DESCENDING), ("_id", DESCENDING)])


def kind_of(signal: NamedSignal) -> str:
    """The event kind of a signal: its name with underscores."""
    return signal.name.replace("-", "_")


def _plain(value: Any) -> Any:
    """``value`` if it is a plain value safe to store (short text, number,
    flag, a short list of those), else None."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, str):
        return None if TOKEN_VALUE.search(value) else value[:TEXT_MAX]
    if isinstance(value, (list, tuple, set, frozenset)) and len(value) <= LIST_MAX:
        items = [_plain(item) for item in value]
        return items if all(item is not None for item in items) else None
    return None


def details(arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a signal worth keeping beside the own fields: plain
    values whose names do not speak of secrets."""
    kept = {}
    for name, value in arguments.items():
        if name in OWN_FIELDS or (SECRET_NAME.search(name) and not re.search(r"_ids?$", name)):
            continue
        plain = _plain(value)
        if plain is not None:
            kept[name] = plain
    return kept


def _user_id(arguments: dict[str, Any]) -> Optional[ObjectId]:
    user = arguments.get("user")
    if user is not None:
        pk = getattr(user, "pk", user)
        return pk if isinstance(pk, ObjectId) else None
    user_id = arguments.get("user_id")
    return user_id if isinstance(user_id, ObjectId) else None


def build(kind: str, arguments: dict[str, Any], now: datetime, retention_days: int) -> RawDocument:
    """The document of one event (its user, when only a username is known, is found by ``store``)."""
    session_ids = arguments.get("session_ids")
    session_id = arguments.get("session_id")
    if session_id is None and isinstance(session_ids, list) and len(session_ids) == 1:
        session_id = session_ids[0]
    reason = arguments.get("reason")
    document: RawDocument = {
        "_id": ObjectId(),
        "time": now,
        "kind": kind,
        "user": _user_id(arguments),
        "session_id": session_id if isinstance(session_id, str) else None,
        "ip": None,
        "user_agent": None,
        "reason": reason if isinstance(reason, str) else None,
        "expires_at": now + timedelta(days=retention_days),
    }
    if isinstance(session_ids, list) and len(session_ids) > 1:
        document["session_ids"] = [sid for sid in session_ids[:LIST_MAX] if isinstance(sid, str)]
    if has_request_context():
        document["ip"] = (request.remote_addr or "")[:IP_MAX] or None
        document["user_agent"] = (request.user_agent.string or "")[:USER_AGENT_MAX] or None
    extra = details(arguments)
    if extra:
        document["details"] = extra
    return document


def store(events: Collection[RawDocument], document: RawDocument, username: Optional[str]) -> None:
    """Write one event; with ``username`` and no user, first find whose it is."""
    if document["user"] is None and username:
        users = events.database.get_collection(User._meta["collection"], read_preference=PRIMARY)
        found = users.find_one({"username": canonical_username(username)}, {"_id": 1})
        document["user"] = found["_id"] if found else None
    events.insert_one(document)


class Recorder:
    """The receiver of one signal: it keeps each event in ``auth_event``."""

    def __init__(self, signal: NamedSignal):
        self.kind = kind_of(signal)

    def __call__(self, app: Flask, **arguments: Any) -> None:
        settings = get_state(app).settings
        if not settings.audit_retention_days:
            return
        document = build(self.kind, arguments, utcnow(), settings.audit_retention_days)
        username = arguments.get("username")
        username = username if isinstance(username, str) and document["user"] is None else None
        events = collection()

        def write() -> None:
            store(events, document, username)

        if settings.mongodb_uri.startswith(MOCK_SCHEME):
            event_writer.run_job(write)  # in-process: nothing to wait for, and tests read at once
        else:
            event_writer.submit(write)


_recorders: dict[str, Recorder] = {}


def connect() -> None:
    """Keep every signal of ``signals`` (those declared since too: called by each ``init_app``)."""
    for signal in signals.every():
        if signal.name not in _recorders:
            recorder = _recorders[signal.name] = Recorder(signal)
            signal.connect(recorder, weak=False)


# -- reading ----------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """Which events to read: at most ``limit``, skipping ``offset``, older than ``before`` (an event id)."""

    limit: int = DEFAULT_PAGE
    offset: int = 0
    before: Optional[str] = None


def page(limit: Any = None, offset: Any = None, before: Any = None) -> Page:
    """A ``Page`` from request values (text or numbers); BadRequest naming a bad one."""
    errors = {}
    parsed = {}
    for name, value, low, high, default in (
        ("limit", limit, 1, MAX_PAGE, DEFAULT_PAGE),
        ("offset", offset, 0, None, 0),
    ):
        if value is None or value == "":
            parsed[name] = default
            continue
        try:
            number = int(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or number < low or (high is not None and number > high):
            errors[name] = f"a whole number from {low}" + (f" to {high}" if high else "")
        else:
            parsed[name] = number
    if before is not None and before != "":
        try:
            ObjectId(before)
        except (InvalidId, TypeError):
            errors["before"] = "an event id"
    if errors:
        raise BadRequest(errors)
    return Page(parsed["limit"], parsed["offset"], before or None)


def find(query: dict[str, Any], paging: Optional[Page] = None) -> list[RawDocument]:
    """The events matching ``query``, newest first, one page of them.

    Queued writes of this process are waited for first, so a listing shows
    what this process just did.
    """
    paging = paging or Page()
    event_writer.flush(timeout=2.0)
    events = access_collection(COLLECTION)
    if paging.before is not None:
        cursor = events.find_one({**query, "_id": ObjectId(paging.before)}, {"time": 1})
        if cursor is None:
            return []
        query = {
            **query,
            "$or": [{"time": {"$lt": cursor["time"]}}, {"time": cursor["time"], "_id": {"$lt": cursor["_id"]}}],
        }
    found = events.find(query).sort([("time", DESCENDING), ("_id", DESCENDING)]).skip(paging.offset)
    return list(found.limit(paging.limit))


def query_for(
    user_id: Optional[ObjectId] = None, kind: Optional[str] = None, since: Optional[datetime] = None
) -> dict[str, Any]:
    """The filter of a listing: one user's, of one kind, since a (naive UTC) time."""
    query: dict[str, Any] = {}
    if user_id is not None:
        query["user"] = user_id
    if kind:
        query["kind"] = kind
    if since is not None:
        query["time"] = {"$gte": since}
    return query


def usernames(documents: list[RawDocument]) -> dict[ObjectId, str]:
    """The usernames of the events' users (one read for a page)."""
    ids = {document["user"] for document in documents if isinstance(document.get("user"), ObjectId)}
    return {user.pk: user.username for user in User.objects(pk__in=list(ids)).only("username")} if ids else {}


def parse_time(value: Any) -> Optional[datetime]:
    """An ISO 8601 time (``Z`` or an offset; naive is UTC) as the naive UTC MongoDB stores; None when invalid."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def public(document: RawDocument, current_session: Optional[str] = None) -> dict[str, Any]:
    """An event as its user (or an admin) reads it."""
    return {
        "id": str(document["_id"]),
        "time": iso(document.get("time")),
        "kind": document.get("kind"),
        "session_id": document.get("session_id"),
        "session_ids": document.get("session_ids"),
        "ip": document.get("ip"),
        "user_agent": document.get("user_agent"),
        "reason": document.get("reason"),
        "details": document.get("details") or {},
        "current_session": current_session is not None and document.get("session_id") == current_session,
    }

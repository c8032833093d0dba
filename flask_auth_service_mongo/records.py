"""The plain values the flows take and return (no database, no Flask)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from bson import DBRef, ObjectId

from .clock import epoch

#: Every field of a login or refresh answer's ``data``, in order: the body,
#: the Swagger model and the GraphQL type are made from this one list.
TOKEN_ANSWER_FIELDS: tuple[tuple[str, type, str], ...] = (
    ("token", str, "the access token (the same JWT as access_token, as 0.1.8 named it)"),
    ("access_token", str, "the access token (JWT)"),
    ("token_type", str, 'always "Bearer"'),
    ("refresh_token", str, "the refresh token: spend it once with refresh"),
    ("expires_in", int, "the access token's lifetime, in minutes (as 0.1.8 documented)"),
    ("expires_at", int, "the access token's expiry, a Unix time in seconds"),
    ("change_password", bool, "the user must change their password"),
    ("role", str, "the user's role"),
)
#: Beside them with cookies enabled (``transport.shape_body``).
CSRF_FIELD = ("csrf_token", str, "with cookies: send it back in X-CSRF-Token on unsafe requests")


#: The fields of a stored user (0.1.8's, less ``_id``), in a compact record's order.
USER_FIELDS = ("username", "password", "active", "change_password", "role")


class PlainUser(tuple[Any, ...]):
    """A compact user of 0.1.8's fields and types only (an ObjectId ``_id``,
    string username and password, a DBRef role, flags that are booleans or
    absent): checked once, when its record is made, not at each use."""

    __slots__ = ()


_FLAG_TYPES = (bool, type(None))


def compact_user(user: dict[str, Any]) -> tuple[Any, ...]:
    """A stored user document as a tuple of ``USER_FIELDS`` (with a mapping of
    any other field last; a ``PlainUser`` when there is none and the types
    are 0.1.8's): what a session cache holds for each session."""
    values = tuple(user.get(name) for name in USER_FIELDS)
    others = {key: value for key, value in user.items() if key != "_id" and key not in USER_FIELDS}
    if others:
        return (*values, others)
    username, password, active, change_password, role = values
    plain = type(user.get("_id")) is ObjectId and type(username) is str and type(password) is str
    if plain and type(role) is DBRef and type(active) in _FLAG_TYPES and type(change_password) in _FLAG_TYPES:
        return PlainUser(values)
    return values


def expand_user(user_id: Any, compact: tuple[Any, ...]) -> dict[str, Any]:
    """The stored user document of ``compact_user``."""
    document = {"_id": user_id}
    for name, value in zip(USER_FIELDS, compact):
        if value is not None:
            document[name] = value
    if len(compact) > len(USER_FIELDS):
        document.update(compact[-1])
    return document


@dataclass(frozen=True)
class Client:
    """Where a request comes from, as recorded in its session."""

    ip: Optional[str] = None
    user_agent: Optional[str] = None


@dataclass(frozen=True)
class TokenPair:
    """A new access token beside the refresh token of one session."""

    access_token: str
    refresh_token: str
    session_id: str
    issued_at: datetime
    access_expires_at: datetime
    session_expires_at: datetime
    role: Optional[str]
    change_password: bool

    def as_data(self) -> dict[str, Any]:
        """The ``data`` of a login or refresh answer (SPEC's HTTP table)."""
        values = {
            "token": self.access_token,
            "access_token": self.access_token,
            "token_type": "Bearer",
            "refresh_token": self.refresh_token,
            "expires_in": round((self.access_expires_at - self.issued_at).total_seconds() / 60),
            "expires_at": epoch(self.access_expires_at),
            "change_password": self.change_password,
            "role": self.role,
        }
        return {name: values[name] for name, _, _ in TOKEN_ANSWER_FIELDS}


@dataclass(frozen=True)
class SessionInfo:
    """A live session as its user may see it."""

    id: str
    created_at: Optional[datetime]
    last_used_at: Optional[datetime]
    ip: Optional[str]
    user_agent: Optional[str]
    authenticated_at: Optional[datetime]


@dataclass(frozen=True)
class Actor:
    """Who asks for an account operation; ``None`` in its place is the command line."""

    user_id: ObjectId
    role: Optional[str]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A live session joined to its user and role as they are now: what the
    guard reads, from MongoDB or from the session cache."""

    session_id: str
    user_id: ObjectId
    expires_at: datetime
    role: Optional[str]
    change_password: bool
    last_used_at: Optional[datetime]
    authenticated_at: Optional[datetime]
    amr: tuple[str, ...]
    acr: str
    kind: str
    scopes: frozenset[str]
    user: tuple[Any, ...] = dataclasses.field(repr=False)  # the stored user document (``compact_user``)
    role_document: Optional[dict[str, Any]] = dataclasses.field(repr=False, default=None)

    def used(self, when: datetime) -> SessionRecord:
        """The record after a last-use write at ``when``."""
        latest = max(when, self.last_used_at or when)
        return self if latest == self.last_used_at else dataclasses.replace(self, last_used_at=latest)

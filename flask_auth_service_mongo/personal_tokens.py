"""Personal access tokens: their format, their stored form, their scopes.

A token is ``fasm_pat_`` followed by 32 random bytes (from ``secrets``)
written in base62, always 43 digits: 52 characters that a secret scanner
can spot by their prefix. It is shown once, when created; the database keeps
only its SHA-256 hex digest, as the ``_id`` of a ``session`` document of
``kind: "pat"``, so a presented token is found by hashing it (no secret is
compared in Python, and a stolen database holds no usable token).

The id shown to users (in listings, URLs, the page) is the first 16 hex
digits of that digest, not the digest: it names the token without handing
out the key the database finds it by. Knowing it (or even the whole digest)
does not help to recover the token: 256 random bits cannot be guessed from
a hash of them, and the guard looks up the digest of what it is given, so
neither the id nor the digest can be presented in the token's place.

Scopes are names such as ``read:users``; a role grants them in its
``permissions`` (``{"scopes": ["read:users"]}``), and a token may only get
scopes its user's role holds.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Optional

from bson import ObjectId
from mongoengine.errors import DoesNotExist

from .clock import utcnow
from .database import unavailable_on_error
from .errors import BadRequest, NotFound, Unauthorized
from .models import User
from .state import get_state
from .store import TOKEN_ID_LENGTH, public_id

PREFIX = "fasm_pat_"
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
SECRET_BYTES = 32
#: Base62 digits of a 256-bit number (62**43 > 2**256 > 62**42).
DIGITS = 43
LENGTH = len(PREFIX) + DIGITS
#: Every token's number is below this (32 bytes).
LIMIT: int = 1 << (8 * SECRET_BYTES)

SCOPE_PATTERN = re.compile(r"[a-z][a-z0-9_.-]*(?::[a-z0-9_.-]+)*")
SCOPE_MAX_LENGTH = 64
MAX_SCOPES = 32
NAME_MAX_LENGTH = 100
MAX_TOKENS_PER_USER = 100
#: Creating a token needs a password checked this recently.
#: The reason ``sessions_ended`` gives for a revoked token.
REVOKED = "token_revoked"

_DIGIT_VALUES = {c: i for i, c in enumerate(ALPHABET)}


def new_token() -> str:
    """A new token: the prefix and 32 random bytes in base62."""
    number = int.from_bytes(secrets.token_bytes(SECRET_BYTES), "big")
    digits = []
    for _ in range(DIGITS):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return PREFIX + "".join(reversed(digits))


def has_prefix(value: str) -> bool:
    """Whether ``value`` claims to be a personal access token (not a JWT)."""
    return value.startswith(PREFIX)


def well_formed(token: str) -> bool:
    """Whether ``token`` has the shape ``new_token`` gives: the prefix, 43
    base62 digits, and a value that fits in 32 bytes."""
    if len(token) != LENGTH or not has_prefix(token):
        return False
    number = 0
    for char in token[len(PREFIX) :]:
        value = _DIGIT_VALUES.get(char)
        if value is None:
            return False
        number = number * 62 + value
    return number < LIMIT


def digest(token: str) -> str:
    """The stored form of a token: its SHA-256 hex digest (the document's ``_id``)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_public_id(value: Any) -> bool:
    """Whether ``value`` has the shape of a token's public id (16 hex digits)."""
    return isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{TOKEN_ID_LENGTH}}}", value) is not None


def valid_scope(name: Any) -> bool:
    """Whether ``name`` is a scope name: ``read:users``, ``deploy``..."""
    return isinstance(name, str) and len(name) <= SCOPE_MAX_LENGTH and SCOPE_PATTERN.fullmatch(name) is not None


def role_scopes(permissions: Optional[dict[str, Any]]) -> frozenset[str]:
    """The scopes a role grants: its ``permissions["scopes"]``, a list of
    scope names (anything else in that free-form field grants nothing)."""
    listed = (permissions or {}).get("scopes") if isinstance(permissions, dict) else None
    if not isinstance(listed, (list, tuple)):
        return frozenset()
    return frozenset(name for name in listed if valid_scope(name))


def scope_errors(scopes: Any, granted: Iterable[str]) -> Optional[str]:
    """Why ``scopes`` (a token's requested list) is refused, or None: it must
    be a non-empty list of distinct scope names, each granted by the role."""
    if not isinstance(scopes, list) or not scopes:
        return "must be a non-empty list of scope names"
    if len(scopes) > MAX_SCOPES:
        return f"at most {MAX_SCOPES} scopes"
    bad = [name for name in scopes if not valid_scope(name)]
    if bad:
        return "invalid scope name: lower-case letters, digits, '_', '.', '-', parts separated by ':'"
    if len(set(scopes)) != len(scopes):
        return "duplicate scopes"
    unknown = sorted(set(scopes) - set(granted))
    if unknown:
        return "not granted by your role: " + ", ".join(unknown)
    return None


@dataclass(frozen=True)
class TokenInfo:
    """A live token as its user may see it (never the token itself)."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: Optional[datetime]
    last_used_at: Optional[datetime]
    expires_at: Optional[datetime]


@dataclass(frozen=True)
class NewToken:
    """A token just created: the only time its string is known."""

    token: str
    info: TokenInfo


def info(document: dict[str, Any]) -> TokenInfo:
    """A stored token document as its user may see it."""
    return TokenInfo(
        public_id(document["_id"]),
        str(document.get("name") or ""),
        tuple(s for s in document.get("scopes") or () if isinstance(s, str)),
        document.get("created_at"),
        document.get("last_used_at"),
        document.get("expires_at"),
    )


def name_error(name: Any) -> Optional[str]:
    """Why ``name`` is refused as a token's name, or None."""
    if not isinstance(name, str) or not name.strip():
        return "required: a non-empty string"
    if len(name) > NAME_MAX_LENGTH:
        return f"at most {NAME_MAX_LENGTH} characters"
    if any(not char.isprintable() for char in name):
        return "must be printable text"
    return None


def days_error(days: Any, maximum: int) -> Optional[str]:
    """Why ``days`` is refused as a token's lifetime, or None."""
    if type(days) is not int:
        return "required: a whole number of days"
    if not 1 <= days <= maximum:
        return f"must be between 1 and {maximum}"
    return None


# -- the flows: create, list, revoke ------------------------------------------------


def _user_and_granted(user_id: ObjectId) -> tuple[User, frozenset[str]]:
    """The active user and the scopes its role grants; Unauthorized when gone."""
    user = User.find_active(user_id)
    if user is None:
        raise Unauthorized()
    try:
        permissions = user.role.permissions if user.role is not None else None
    except DoesNotExist:
        permissions = None
    return user, role_scopes(permissions)


def create(user_id: ObjectId, name: Any, scopes: Any, expires_in_days: Any) -> NewToken:
    """A new token of the user, shown once (BadRequest naming each bad field)."""
    state = get_state()
    errors = {
        "name": name_error(name),
        "expires_in_days": days_error(expires_in_days, state.settings.personal_token_max_days),
    }
    with unavailable_on_error():
        user, granted = _user_and_granted(user_id)
        errors["scopes"] = scope_errors(scopes, granted)
        found = {field: reason for field, reason in errors.items() if reason}
        if found:
            raise BadRequest(found)
        now = utcnow()
        if len(state.store.list_tokens(user_id, now)) >= MAX_TOKENS_PER_USER:
            raise BadRequest({"tokens": f"at most {MAX_TOKENS_PER_USER} live tokens a user: revoke one first"})
        token = new_token()
        stored = user.to_mongo().to_dict()
        expires_at = now + timedelta(days=expires_in_days)
        document = state.store.insert_token(stored, digest(token), name.strip(), list(scopes), now, expires_at)
        if User.find_active(user_id) is None:
            # Deactivated or deleted meanwhile, after its tokens were ended.
            state.store.end(user_id, "deactivated", [document["_id"]])
            raise Unauthorized()
    return NewToken(token, info(document))


def listed(user_id: ObjectId) -> list[TokenInfo]:
    """The user's live tokens, newest first."""
    with unavailable_on_error():
        return [info(document) for document in get_state().store.list_tokens(user_id, utcnow())]


def revoke(user_id: ObjectId, token_id: Any) -> None:
    """End one of the user's own tokens at once; NotFound for any other id."""
    if not is_public_id(token_id):
        raise NotFound()
    store = get_state().store
    with unavailable_on_error():
        digests = [d["_id"] for d in store.list_tokens(user_id, utcnow()) if public_id(d["_id"]) == token_id]
        if not digests or not store.end(user_id, REVOKED, digests):
            raise NotFound()

"""E-mail addresses and the single-use tokens of mailed links, in collections of our own.

``auth_email`` holds one address a user (``_id`` the user's id, ``email``
lower-case, unique). ``auth_link_token`` holds at most one live link a user
and purpose (``_id`` ``"<purpose>:<user id>"``, so a newer link replaces the
older in one write): the SHA-256 hex digest of the token, never the token,
with the address it was sent to and its expiry (a TTL index lets MongoDB drop
it). 0.1.8's ``user`` documents are not touched.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from .database import RawDocument, access_collection
from .errors import PolicyError

ADDRESSES = "auth_email"
LINK_TOKENS = "auth_link_token"
#: What a link is for: one purpose's token is never accepted for another.
RESET = "reset_password"
CONFIRM_EMAIL = "confirm_email"
PURPOSES = (RESET, CONFIRM_EMAIL)
TOKEN_BYTES = 32
MAX_EMAIL_LENGTH = 254
#: The HTML living standard's "valid e-mail address": printable ASCII, no
#: spaces, quotes, brackets or line breaks, so it is safe in a header.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def normalize_email(raw: object) -> str:
    """The stored form of an address (trimmed, lower-case), or PolicyError
    ``email_invalid`` for anything that is not one plain address."""
    if not isinstance(raw, str):
        raise PolicyError("email_invalid", "the e-mail address must be a string")
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
        raise PolicyError("email_invalid", "not an e-mail address")
    return email


def is_plain_address(value: str) -> bool:
    """Whether ``value`` is exactly one address that a mail header can carry
    as it is (no line break, no second recipient)."""
    return len(value) <= MAX_EMAIL_LENGTH and _EMAIL.fullmatch(value) is not None


# -- addresses --------------------------------------------------------------


def addresses() -> Collection[RawDocument]:
    return access_collection(ADDRESSES)


def link_tokens() -> Collection[RawDocument]:
    return access_collection(LINK_TOKENS)


def ensure_indexes() -> None:
    """Unique addresses; unique token digests; expired links dropped by MongoDB."""
    addresses().create_index("email", unique=True)
    link_tokens().create_index("digest", unique=True)
    link_tokens().create_index("expires_at", expireAfterSeconds=0)


def set_address(user_id: ObjectId, email: Optional[str]) -> None:
    """Give the user ``email`` (already normalised), or none; PolicyError
    ``email_taken`` when another user has it."""
    if email is None:
        addresses().delete_one({"_id": user_id})
        return
    try:
        addresses().update_one({"_id": user_id}, {"$set": {"email": email}}, upsert=True)
    except DuplicateKeyError:
        raise PolicyError("email_taken", "another account has this e-mail address") from None


def address_of(user_id: ObjectId) -> Optional[str]:
    found = addresses().find_one({"_id": user_id}, {"email": 1})
    return found["email"] if found else None


def addresses_of(user_ids: list[ObjectId]) -> dict[ObjectId, str]:
    """The addresses of several users in one read."""
    return {found["_id"]: found["email"] for found in addresses().find({"_id": {"$in": user_ids}})}


def user_with_address(email: str) -> Optional[ObjectId]:
    found = addresses().find_one({"email": email}, {"_id": 1})
    return found["_id"] if found else None


def forget_user(user_id: ObjectId) -> None:
    """A deleted user leaves neither an address nor a usable link."""
    addresses().delete_one({"_id": user_id})
    link_tokens().delete_many({"user_id": user_id})


# -- link tokens -------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A live link token as stored: whose, for what, to which address."""

    user_id: ObjectId
    purpose: str
    email: str
    digest: str


def digest(token: str) -> str:
    """How a token is stored and looked up: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue(user_id: ObjectId, purpose: str, email: str, now: datetime, lifetime: timedelta) -> tuple[str, Link]:
    """A new token (32 random bytes, URL-safe) for a link to ``email``; the
    user's older link of that purpose stops working in the same write."""
    token = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode("ascii")
    link = Link(user_id, purpose, email, digest(token))
    link_tokens().replace_one(
        {"_id": f"{purpose}:{user_id}"},
        {
            "digest": link.digest,
            "user_id": user_id,
            "purpose": purpose,
            "email": email,
            "created_at": now,
            "expires_at": now + lifetime,
        },
        upsert=True,
    )
    return token, link


def _live(token: str, purpose: str, now: datetime) -> dict[str, object]:
    return {"digest": digest(token), "purpose": purpose, "expires_at": {"$gt": now}}


def _link(found: Optional[RawDocument]) -> Optional[Link]:
    if found is None:
        return None
    return Link(found["user_id"], found["purpose"], found["email"], found["digest"])


def find(token: str, purpose: str, now: datetime) -> Optional[Link]:
    """The live link of ``token`` for ``purpose``, left usable; None otherwise."""
    return _link(link_tokens().find_one(_live(token, purpose, now)))


def spend(token: str, purpose: str, now: datetime) -> Optional[Link]:
    """Spend ``token`` in one atomic delete: of concurrent uses, one gets the
    link, the others None (as for an unknown, expired or other-purpose token)."""
    return _link(link_tokens().find_one_and_delete(_live(token, purpose, now)))


def void(link: Link) -> None:
    """Drop ``link`` if it is still the user's live one (a mail that could not be sent)."""
    link_tokens().delete_one({"_id": f"{link.purpose}:{link.user_id}", "digest": link.digest})


def void_all(user_id: ObjectId, purpose: str) -> None:
    link_tokens().delete_one({"_id": f"{purpose}:{user_id}"})

"""Second factors as stored: TOTP secrets, recovery codes, login challenges.

Three collections of our own (0.1.8's ``user`` documents are never touched):

- ``auth_factor``: one document per user and method. A TOTP secret is
  encrypted at rest (Fernet, ``AUTH_FACTOR_KEY`` or a key derived from the
  signing material with HKDF); ``last_step`` is the last time step accepted,
  so a code is accepted at most once, even by two requests at the same time
  (one conditional update: exactly one wins). An enrolment begun and never
  confirmed is forgotten after ``PENDING_SECONDS`` (a TTL index).
- ``auth_recovery_code``: ten codes a set, stored as SHA-256 digests (the
  codes are random, 80 bits), each deleted by its use.
- ``auth_mfa_challenge``: the ``mfa_token`` between a right password and the
  second factor, stored as its SHA-256 digest, dropped at its expiry (TTL),
  by its first success or by ``MAX_CHALLENGE_FAILURES`` wrong codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional, Sequence

import pyotp
from bson import ObjectId
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from .database import JOURNALED, PRIMARY, RawDocument
from .errors import MfaAlreadyEnrolled

log = logging.getLogger("flask_auth_service_mongo")

FACTORS = "auth_factor"
RECOVERY_CODES = "auth_recovery_code"
CHALLENGES = "auth_mfa_challenge"
TOTP, RECOVERY_CODE = "totp", "recovery_code"
STEP_SECONDS, DIGITS, DRIFT_STEPS = 30, 6, 1
RECOVERY_CODE_COUNT = 10
#: 16 characters of a 32-letter alphabet without look-alikes (0/o, 1/l): 80 bits.
RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 16
PENDING_SECONDS = 600
MAX_CHALLENGE_FAILURES = 5
_CODE = re.compile(f"[0-9]{{{DIGITS}}}")
_RECOVERY = re.compile(f"[{RECOVERY_ALPHABET}]{{{RECOVERY_LENGTH}}}")
_HKDF_INFO = b"flask-auth-service-mongo factor secrets"


def fernet_key(secret: bytes) -> bytes:
    """A Fernet key derived from ``secret`` (HKDF-SHA256)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)
    return base64.urlsafe_b64encode(derived)


def cipher(materials: Sequence[bytes]) -> MultiFernet:
    """Encrypts with the first secret, decrypts with any (a key rotation)."""
    return MultiFernet([Fernet(fernet_key(material)) for material in materials])


def digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def matching_step(secret: str, code: str, now: float) -> Optional[int]:
    """The time step (within one step of drift) whose TOTP code is ``code``,
    or None; ``code`` must be exactly six ASCII digits (no spaces, no sign)."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now // STEP_SECONDS)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def normalize_recovery_code(code: str) -> Optional[str]:
    """A recovery code as stored (lower case, no hyphens), or None when it cannot be one."""
    if not isinstance(code, str):
        return None
    plain = code.replace("-", "").lower()
    return plain if _RECOVERY.fullmatch(plain) else None


def new_recovery_code() -> str:
    """A fresh code, shown as ``xxxx-xxxx-xxxx-xxxx``."""
    plain = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(plain[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4))


@dataclass(frozen=True)
class Challenge:
    """A live ``mfa_token`` as stored (never the token itself)."""

    id: str
    user_id: ObjectId
    methods: tuple[str, ...]
    expires_at: datetime
    failures: int
    password_stamp: Optional[str] = None  # of the hash the password was checked against


class FactorStore:
    """The second factors of one application's database (see the module)."""

    def __init__(self, database: Database[RawDocument], materials: Sequence[bytes]):
        def journaled(name: str) -> Collection[RawDocument]:
            return database.get_collection(name, write_concern=JOURNALED, read_preference=PRIMARY)

        self.factors = journaled(FACTORS)
        self.codes = journaled(RECOVERY_CODES)
        self.challenges = journaled(CHALLENGES)
        self._materials = tuple(materials)

    def ensure_indexes(self) -> None:
        self.factors.create_index([("user", 1), ("method", 1)], unique=True)
        self.factors.create_index("pending_expires_at", expireAfterSeconds=0)
        self.codes.create_index("user")
        self.challenges.create_index("expires_at", expireAfterSeconds=0)

    # -- TOTP ---------------------------------------------------------------------

    def _encrypt(self, secret: str) -> str:
        return cipher(self._materials).encrypt(secret.encode("ascii")).decode("ascii")

    def _decrypt(self, stored: str) -> Optional[str]:
        try:
            return cipher(self._materials).decrypt(stored.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError):
            log.error("a TOTP secret cannot be decrypted: was AUTH_FACTOR_KEY (or the signing key) changed?")
            return None

    def begin_totp(self, user_id: ObjectId, now: datetime) -> str:
        """A new secret awaiting its first code (replacing one not confirmed);
        MfaAlreadyEnrolled when the user has TOTP already."""
        secret = pyotp.random_base32()
        try:
            self.factors.update_one(
                {"user": user_id, "method": TOTP, "confirmed": False},
                {
                    "$set": {
                        "secret": self._encrypt(secret),
                        "created_at": now,
                        "pending_expires_at": now + timedelta(seconds=PENDING_SECONDS),
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            raise MfaAlreadyEnrolled() from None
        return secret

    def confirm_totp(self, user_id: ObjectId, code: str, now: datetime) -> bool:
        """Confirm the pending secret with its first code; False for a wrong
        code or nothing pending (MfaAlreadyEnrolled when confirmed already)."""
        pending = self.factors.find_one({"user": user_id, "method": TOTP})
        if pending is not None and pending.get("confirmed"):
            raise MfaAlreadyEnrolled()
        if pending is None or pending.get("pending_expires_at", now) <= now:
            return False
        secret = self._decrypt(pending["secret"])
        step = matching_step(secret, code, time.time()) if secret else None
        if step is None:
            return False
        confirmed = self.factors.update_one(
            {"_id": pending["_id"], "confirmed": False, "secret": pending["secret"]},
            {
                "$set": {"confirmed": True, "last_step": step, "confirmed_at": now},
                "$unset": {"pending_expires_at": ""},
            },
        )
        return confirmed.modified_count == 1

    def use_totp(self, user_id: ObjectId, code: str, now: datetime) -> bool:
        """Accept ``code`` once: True for the first use of a right code."""
        factor = self.factors.find_one({"user": user_id, "method": TOTP, "confirmed": True})
        if factor is None:
            return False
        secret = self._decrypt(factor["secret"])
        step = matching_step(secret, code, time.time()) if secret else None
        if step is None:
            return False
        used = self.factors.update_one(
            {"_id": factor["_id"], "confirmed": True, "last_step": {"$lt": step}},
            {"$set": {"last_step": step, "last_used_at": now}},
        )
        return used.modified_count == 1

    def methods(self, user_id: ObjectId) -> list[str]:
        """The second factors the user can sign in with (empty: none)."""
        if self.factors.find_one({"user": user_id, "method": TOTP, "confirmed": True}, {"_id": 1}) is None:
            return []
        return [TOTP, RECOVERY_CODE]

    def remove(self, user_id: ObjectId) -> list[str]:
        """Remove every factor and recovery code of the user; the methods it had."""
        had = self.methods(user_id)
        self.factors.delete_many({"user": user_id})
        self.codes.delete_many({"user": user_id})
        self.challenges.delete_many({"user": user_id})
        return had

    # -- recovery codes ------------------------------------------------------------

    @staticmethod
    def _code_id(user_id: ObjectId, plain: str) -> str:
        return digest("recovery", str(user_id), plain)

    def new_recovery_codes(self, user_id: ObjectId, now: datetime) -> list[str]:
        """A new set of codes, shown once; the old set is void."""
        codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        self.codes.delete_many({"user": user_id})
        self.codes.insert_many(
            [
                {"_id": self._code_id(user_id, code.replace("-", "")), "user": user_id, "created_at": now}
                for code in codes
            ]
        )
        return codes

    def use_recovery_code(self, user_id: ObjectId, code: str) -> Optional[int]:
        """Spend ``code`` (looked up by its digest): how many remain, or None
        when it is no unused code of this user."""
        plain = normalize_recovery_code(code)
        if plain is None:
            return None
        if self.codes.find_one_and_delete({"_id": self._code_id(user_id, plain), "user": user_id}) is None:
            return None
        return self.codes.count_documents({"user": user_id})

    # -- login challenges ----------------------------------------------------------

    def open_challenge(
        self, user_id: ObjectId, methods: Sequence[str], now: datetime, seconds: int, password_stamp: str
    ) -> tuple[str, datetime]:
        """A new ``mfa_token`` for the user, whose password was checked against
        the hash of ``password_stamp`` (``store.password_stamp``), and its expiry."""
        token = secrets.token_urlsafe(32)
        expires_at = now + timedelta(seconds=seconds)
        self.challenges.insert_one(
            {
                "_id": digest("mfa", token),
                "user": user_id,
                "methods": list(methods),
                "failures": 0,
                "password_stamp": password_stamp,
                "created_at": now,
                "expires_at": expires_at,
            }
        )
        return token, expires_at

    def find_challenge(self, token: str, now: datetime) -> Optional[Challenge]:
        """The live challenge of ``token``, or None."""
        if not isinstance(token, str) or not token:
            return None
        found = self.challenges.find_one(
            {"_id": digest("mfa", token), "expires_at": {"$gt": now}, "failures": {"$lt": MAX_CHALLENGE_FAILURES}}
        )
        if found is None:
            return None
        return Challenge(
            found["_id"],
            found["user"],
            tuple(found["methods"]),
            found["expires_at"],
            found["failures"],
            found.get("password_stamp"),
        )

    def fail_challenge(self, challenge: Challenge) -> None:
        """Count a wrong code; the challenge dies at the last allowed one."""
        after = self.challenges.find_one_and_update(
            {"_id": challenge.id}, {"$inc": {"failures": 1}}, return_document=ReturnDocument.AFTER
        )
        if after is not None and after["failures"] >= MAX_CHALLENGE_FAILURES:
            self.challenges.delete_one({"_id": challenge.id})

    def spend_challenge(self, challenge: Challenge, now: datetime) -> bool:
        """Spend the challenge: True for exactly one of concurrent successes."""
        spent = self.challenges.delete_one(
            {"_id": challenge.id, "expires_at": {"$gt": now}, "failures": {"$lt": MAX_CHALLENGE_FAILURES}}
        )
        return spent.deleted_count == 1

"""bcrypt hashing, the password policy and generated passwords."""

from __future__ import annotations

import functools
import secrets
import string

import bcrypt

from .errors import PolicyError

#: bcrypt reads at most this many bytes; longer passwords are refused, never cut.
MAX_BYTES = 72
ALPHABET = string.ascii_letters + string.digits


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


@functools.lru_cache(maxsize=8)
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), bcrypt.gensalt(rounds))


def check_password(password: str, hashed: str | None, rounds: int) -> bool:
    """True when ``password`` matches ``hashed``.

    Unknown users (``hashed`` None), broken hashes and overlong passwords cost
    the same bcrypt work as a real check, so timing tells nothing.
    """
    candidate = password.encode("utf-8", "surrogatepass")
    target = hashed.encode("ascii", "replace") if hashed else b""
    usable = len(candidate) <= MAX_BYTES and target.startswith(b"$2")
    try:
        if usable:
            return bcrypt.checkpw(candidate, target)
    except ValueError:
        pass
    bcrypt.checkpw(candidate[:MAX_BYTES], _dummy_hash(rounds))
    return False


def hash_rounds(hashed: str) -> int:
    """The cost factor of a bcrypt hash (``$2b$12$...`` gives 12)."""
    try:
        return int(hashed.split("$")[2])
    except (IndexError, ValueError):
        return 0


def validate_new_password(password: object, min_length: int) -> str:
    """Return ``password`` when it fits the policy, else raise PolicyError."""
    if not isinstance(password, str) or not password:
        raise PolicyError("password_required", "a password is required")
    if "\x00" in password:
        raise PolicyError("password_invalid", "the password must not contain NUL characters")
    try:
        encoded = password.encode("utf-8")
    except UnicodeEncodeError:
        raise PolicyError("password_invalid", "the password must be valid Unicode text") from None
    if len(password) < min_length:
        raise PolicyError("password_too_short", f"the password needs at least {min_length} characters")
    if len(encoded) > MAX_BYTES:
        raise PolicyError("password_too_long", f"the password must fit in {MAX_BYTES} UTF-8 bytes")
    return password


def generate_password(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))

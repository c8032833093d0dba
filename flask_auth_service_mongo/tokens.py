"""Signing and checking JWTs, with a bounded cache of verified access tokens."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import jwt
from bson import ObjectId
from bson.errors import InvalidId

from .errors import InvalidToken, TokenExpired
from .keys import KeyRing

ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "sid", "type"]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: int


class TokenCodec:
    """Issues and verifies the two token types of one application.

    Verified access tokens are remembered (bounded, never past their ``exp``)
    so a client that sends the same token again skips the signature check;
    revocation is unaffected because the session is still checked each time.
    """

    def __init__(self, keys: KeyRing, leeway_seconds: int, cache_size: int):
        self._keys = keys
        self._leeway = leeway_seconds
        self._cache_size = cache_size
        self._cache: dict[str, dict[str, Any]] = {}
        self._evict_lock = threading.Lock()

    def issue(
        self,
        kind: str,
        user_id: str,
        session_id: str,
        expires_at: int,
        now: int,
        amr: Optional[Sequence[str]] = None,
        acr: Optional[str] = None,
    ) -> IssuedToken:
        """A signed token; ``amr`` (RFC 8176) and ``acr`` say how its session
        was authenticated (access tokens carry them)."""
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "sub": user_id,
            "sid": session_id,
            "jti": jti,
            "type": kind,
            "iat": now,
            "exp": expires_at,
        }
        if amr is not None:
            claims["amr"] = list(amr)
        if acr is not None:
            claims["acr"] = acr
        keys = self._keys
        token = jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers={"kid": keys.kid})
        return IssuedToken(token, jti, expires_at)

    def decode(self, token: str, kind: str) -> dict[str, Any]:
        """The claims of a valid token of type ``kind``, else InvalidToken/TokenExpired."""
        if kind == ACCESS:
            claims = self._cache.get(token)
            if claims is not None and claims["exp"] + self._leeway > time.time():
                return claims
        try:
            key = self._keys.verification_key(jwt.get_unverified_header(token).get("kid"))
            if key is None:
                raise InvalidToken()
            claims = jwt.decode(
                token,
                key,
                algorithms=[self._keys.algorithm],
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except (jwt.InvalidTokenError, UnicodeEncodeError):
            raise InvalidToken() from None
        if claims.get("type") != kind or not well_typed(claims):
            raise InvalidToken()
        if kind == ACCESS and self._cache_size:
            self._remember(token, claims)
        return claims

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        if len(self._cache) >= self._cache_size:
            with self._evict_lock:
                now = time.time()
                expired = [t for t, c in list(self._cache.items()) if c["exp"] + self._leeway <= now]
                for stale in expired or list(self._cache)[: max(1, self._cache_size // 8)]:
                    self._cache.pop(stale, None)
        self._cache[token] = claims

    def forget(self, token: Optional[str]) -> None:
        """Drop a token from the cache (it would be refused by its session anyway)."""
        if token:
            self._cache.pop(token, None)


def well_typed(claims: dict[str, Any]) -> bool:
    """String ids and whole-number times (PyJWT also accepts ``"exp": "123"``)."""
    return all(isinstance(claims[c], str) for c in ("sub", "sid", "jti")) and all(
        type(claims[c]) is int for c in ("exp", "iat")
    )


def subject_id(claims: dict[str, Any]) -> ObjectId:
    """The user id of a token's ``sub`` claim; InvalidToken when it is none."""
    try:
        return ObjectId(claims["sub"])
    except (InvalidId, TypeError):
        raise InvalidToken() from None

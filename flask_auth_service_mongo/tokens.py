"""Signing and checking JWTs, with a bounded cache of verified access tokens."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional

import jwt

from .errors import InvalidToken, TokenExpired

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

    def __init__(self, secret_key: str, algorithm: str, leeway_seconds: int, cache_size: int):
        self._key = secret_key
        self._algorithm = algorithm
        self._leeway = leeway_seconds
        self._cache_size = cache_size
        self._cache: dict[str, dict[str, Any]] = {}
        self._evict_lock = threading.Lock()

    def issue(self, kind: str, user_id: str, session_id: str, expires_at: int, now: int) -> IssuedToken:
        jti = uuid.uuid4().hex
        claims = {"sub": user_id, "sid": session_id, "jti": jti, "type": kind, "iat": now, "exp": expires_at}
        return IssuedToken(jwt.encode(claims, self._key, algorithm=self._algorithm), jti, expires_at)

    def decode(self, token: str, kind: str) -> dict[str, Any]:
        """The claims of a valid token of type ``kind``, else InvalidToken/TokenExpired."""
        if kind == ACCESS:
            claims = self._cache.get(token)
            if claims is not None and claims["exp"] + self._leeway > time.time():
                return claims
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.InvalidTokenError:
            raise InvalidToken() from None
        if claims.get("type") != kind or not all(isinstance(claims[c], str) for c in ("sub", "sid", "jti")):
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

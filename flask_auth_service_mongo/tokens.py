"""Signing and checking JWTs, with a bounded cache of verified access tokens.

The two kinds are told apart by their header (RFC 8725 section 3.11, RFC
9068): access tokens carry ``typ: "at+jwt"``, refresh tokens
``typ: "refresh+jwt"``, and each kind also by its ``type`` claim. Tokens
signed before that (``typ: "JWT"``) are still read by their claim until they
expire. With an issuer or audience configured, tokens carry ``iss`` / ``aud``
and verification requires them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import jwt
from bson import ObjectId
from bson.errors import InvalidId
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.utils import base64url_decode

from .errors import ConfigError, InvalidToken, TokenExpired
from .keys import KeyRing

ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "sid", "type"]
#: The ``typ`` header of each kind (RFC 9068 section 2.1 for access tokens).
TYP = {ACCESS: "at+jwt", REFRESH: "refresh+jwt"}
#: The ``typ`` of the tokens signed before the kinds had headers of their own.
LEGACY_TYP = "JWT"
#: Claims an application's loader may not set: ours (RFC 7519, RFC 8176, RFC 8693).
RESERVED_CLAIMS = frozenset(
    {"sub", "sid", "jti", "exp", "iat", "nbf", "typ", "type", "iss", "aud", "amr", "acr", "scope"}
)
#: The longest access token accepted in a header or a cookie.
MAX_ACCESS_TOKEN_LENGTH = 8192
#: ``f(user) -> dict``: the application's own claims for an access token.
ClaimsLoader = Callable[[Any], Mapping[str, Any]]
#: What the verified-token cache holds of a token: its exp, its user id (of ``sub``), its sid.
CacheEntry = tuple[int, ObjectId, str]


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

    def __init__(
        self,
        keys: KeyRing,
        leeway_seconds: int,
        cache_size: int,
        issuer: Optional[str] = None,
        audience: Optional[str] = None,
    ):
        self._keys = keys
        self._leeway = leeway_seconds
        self._cache_size = cache_size
        #: digest of a verified access token -> (exp, user id of sub, sid), never past exp.
        self._cache: dict[bytes, CacheEntry] = {}
        self._evict_lock = threading.Lock()
        self._issuer = issuer
        self._audience = audience
        self._required = REQUIRED_CLAIMS + [name for name, value in (("iss", issuer), ("aud", audience)) if value]
        #: The application's ``additional_claims_loader``, if it registered one.
        self.claims_loader: Optional[ClaimsLoader] = None
        #: The longest refresh token the key ring can have signed.
        self.max_refresh_length = max_refresh_token_length(keys, issuer, audience)
        if self.max_refresh_length > MAX_ACCESS_TOKEN_LENGTH:
            raise ConfigError(
                f"the keys sign tokens of up to {self.max_refresh_length} characters, more than the "
                f"{MAX_ACCESS_TOKEN_LENGTH} a header or a cookie may carry: use a shorter AUTH_KEY_ID or key"
            )

    def issue(
        self,
        kind: str,
        user_id: str,
        session_id: str,
        expires_at: int,
        now: int,
        amr: Optional[Sequence[str]] = None,
        acr: Optional[str] = None,
        user: Any = None,
    ) -> IssuedToken:
        """A signed token; ``amr`` (RFC 8176) and ``acr`` say how its session
        was authenticated (access tokens carry them, and the claims of the
        application's loader for ``user``)."""
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
        if self._issuer:
            claims["iss"] = self._issuer
        if self._audience:
            claims["aud"] = self._audience
        if kind == ACCESS and self.claims_loader is not None and user is not None:
            claims.update(additional_claims(self.claims_loader, user))
        keys = self._keys
        headers = {"kid": keys.kid, "typ": TYP[kind]}
        token = jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers=headers)
        if kind == ACCESS and len(token) > MAX_ACCESS_TOKEN_LENGTH:
            raise ValueError(
                f"an access token of {len(token)} characters is longer than the {MAX_ACCESS_TOKEN_LENGTH} "
                "a header or a cookie may carry: the additional_claims_loader returns too much"
            )
        return IssuedToken(token, jti, expires_at)

    def decode(self, token: str, kind: str) -> Mapping[str, Any]:
        """The claims of a valid token of type ``kind``, else InvalidToken/TokenExpired."""
        if kind == ACCESS:
            found = self.cached(token)
            if found is not None:
                return CachedClaims(token, found)
        try:
            header = jwt.get_unverified_header(token)
            verifier = self._keys.verification_key(header.get("kid"))
            if verifier is None or header.get("typ") not in (TYP[kind], LEGACY_TYP):
                raise InvalidToken()
            claims = jwt.decode(
                token,
                verifier,
                algorithms=[self._keys.algorithm],
                leeway=self._leeway,
                issuer=self._issuer,
                audience=self._audience,
                options={"require": self._required},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except (jwt.InvalidTokenError, UnicodeEncodeError, RecursionError, OverflowError, TypeError, ValueError):
            # Older PyJWT releases let a hostile token's nested header, or an
            # exp of "Infinity" or a list, through as such errors: still refused.
            raise InvalidToken() from None
        if claims.get("type") != kind or not well_typed(claims):
            raise InvalidToken()
        if kind == ACCESS and self._cache_size:
            user_id = cached_subject(claims["sub"])
            if user_id is not None:
                entry = (claims["exp"], user_id, claims["sid"])
                self._remember(cache_key(token), entry)
                return CachedClaims(token, entry, claims)  # the session read then holds this very user id
        return claims

    def cached(self, token: str) -> Optional[CacheEntry]:
        """The cache's entry of an access token it verified, while unexpired."""
        key = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()  # cache_key, inline
        found = self._cache.get(key)
        return found if found is not None and found[0] + self._leeway > time.time() else None

    def _remember(self, key: bytes, entry: CacheEntry) -> None:
        if len(self._cache) >= self._cache_size:
            with self._evict_lock:
                now = time.time()
                expired = [k for k, e in list(self._cache.items()) if e[0] + self._leeway <= now]
                for stale in expired or list(self._cache)[: max(1, self._cache_size // 8)]:
                    self._cache.pop(stale, None)
        self._cache[key] = entry

    def forget(self, token: Optional[str]) -> None:
        """Drop a token from the cache (it would be refused by its session anyway)."""
        if token:
            self._cache.pop(cache_key(token), None)


def cache_key(token: str) -> bytes:
    """What the verified-token cache knows a token by: a 128-bit digest
    (finding another token of the same digest is a second preimage), a
    fraction of the token's own size."""
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def cached_subject(sub: str) -> Optional[ObjectId]:
    """The user's ObjectId when ``sub`` is its string (parsed once, not on
    every request), else None: the cache holds no token of another ``sub``."""
    try:
        user_id = ObjectId(sub)
    except InvalidId:
        return None
    return user_id if str(user_id) == sub else None


class CachedClaims(Mapping[str, Any]):
    """The claims of a token the cache verified before: ``exp``, ``sub`` and
    ``sid`` as remembered (``user_id``: the ``sub`` as an ObjectId), the
    others read from the token when asked for (``auth.current_claims()``),
    since its digest matched."""

    __slots__ = ("_token", "_entry", "_all", "user_id")

    def __init__(self, token: str, entry: CacheEntry, claims: Optional[dict[str, Any]] = None):
        self._token = token
        self._entry = entry
        self._all = claims
        self.user_id = entry[1]

    def __getitem__(self, name: str) -> Any:
        if name == "sid":
            return self._entry[2]
        if name == "sub":
            return str(self._entry[1])
        if name == "exp":
            return self._entry[0]
        return self._claims()[name]

    def _claims(self) -> dict[str, Any]:
        if self._all is None:
            self._all = json.loads(base64url_decode(self._token.split(".")[1]))
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims())

    def __len__(self) -> int:
        return len(self._claims())


def additional_claims(loader: ClaimsLoader, user: Any) -> dict[str, Any]:
    """What ``loader`` returns for ``user``, checked: a mapping of names that
    are not ours (TypeError, ValueError otherwise: an error of the app)."""
    claims = loader(user)
    if not isinstance(claims, Mapping) or not all(isinstance(name, str) for name in claims):
        raise TypeError(f"additional_claims_loader must return a dict with string keys, got {type(claims).__name__}")
    reserved = sorted(RESERVED_CLAIMS.intersection(claims))
    if reserved:
        raise ValueError(f"additional_claims_loader may not set the registered claims {', '.join(reserved)}")
    return dict(claims)


def max_refresh_token_length(keys: KeyRing, issuer: Optional[str], audience: Optional[str]) -> int:
    """The length of the longest refresh token a key of ``keys`` signs: its
    longest header, its longest claims and its longest signature, in base64url."""
    longest_kid = max((keys.kid, *keys.verify_keys), key=len)
    header = {"alg": keys.algorithm, "typ": TYP[REFRESH], "kid": longest_kid}
    claims = {
        "sub": "0" * 24,
        "sid": "0" * 64,
        "jti": "0" * 32,
        "type": REFRESH,
        "iat": 10**12,
        "exp": 10**12,
        "iss": issuer or "",
        "aud": audience or "",
    }
    signature = max(signature_bytes(key) for key in keys.verify_keys.values())
    parts = (json_bytes(header), json_bytes(claims), signature)
    return sum(base64url_length(size) for size in parts) + 2


def json_bytes(value: Mapping[str, Any]) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def base64url_length(size: int) -> int:
    return (4 * size + 2) // 3


def signature_bytes(key: Any) -> int:
    """The size of a signature made with ``key`` (or its private half)."""
    if isinstance(key, (str, bytes)):
        return 64  # HMAC: at most SHA-512's digest
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return (key.key_size + 7) // 8
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return 2 * ((key.curve.key_size + 7) // 8)
    return 114  # EdDSA: Ed448's signature, Ed25519's is 64


def well_typed(claims: dict[str, Any]) -> bool:
    """String ids and whole-number times (PyJWT also accepts ``"exp": "123"``)."""
    return all(isinstance(claims[c], str) for c in ("sub", "sid", "jti")) and all(
        type(claims[c]) is int for c in ("exp", "iat")
    )


def subject_id(claims: Mapping[str, Any]) -> ObjectId:
    """The user id of a token's ``sub`` claim; InvalidToken when it is none."""
    if isinstance(claims, CachedClaims):
        return claims.user_id
    subject = claims["sub"]
    try:
        return ObjectId(subject)
    except (InvalidId, TypeError):
        raise InvalidToken() from None

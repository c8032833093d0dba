"""Signing and verification keys: the pinned algorithm, the current key and
its ``kid``, and older keys still accepted while they rotate out.

HMAC algorithms sign with ``AUTH_SECRET_KEY``; RSA, EC and EdDSA ones with
``AUTH_PRIVATE_KEY`` (PEM text or a path to a PEM file). Every token carries
the ``kid`` of the key that signed it; ``AUTH_VERIFY_KEYS`` (a mapping
kid -> key, or a list of keys whose kids are derived) keeps older keys valid
for verification only. Everything is checked at start-up. ``KeyRing.jwks``
publishes the public keys of the ring, so other services verify with them.

``KeyRing.derived_keys`` are secrets of their own for other uses (the CSRF
tokens of ``transport``), derived from secret material only, never from a
public key: from ``AUTH_SECRET_KEY`` (by default Flask's ``SECRET_KEY``)
whatever the algorithm, so that they outlive a rotation of an RSA, EC or
EdDSA signing key; without a secret, from the private signing key and the
private keys kept in ``AUTH_VERIFY_KEYS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import HMACAlgorithm, get_default_algorithms

from .errors import ConfigError

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
ALGORITHMS = HMAC_ALGORITHMS + RSA_ALGORITHMS + tuple(EC_CURVES) + ("EdDSA",)
MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
#: Config keys holding key material (no default; validated here).
MATERIAL_KEYS = ("AUTH_PRIVATE_KEY", "AUTH_PUBLIC_KEY", "AUTH_KEY_ID", "AUTH_VERIFY_KEYS")
#: JWK members of private keys (RFC 7518 section 6), never published.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True)
class KeyRing:
    """What ``tokens`` signs and verifies with."""

    algorithm: str
    kid: str
    signing_key: Any
    verify_keys: Mapping[str, Any]
    #: Secrets derived from secret material for other uses (CSRF tokens),
    #: the one to issue with first (``derived_secrets``).
    derived_keys: tuple[bytes, ...] = ()

    def verification_key(self, kid: Optional[str]) -> Optional[Any]:
        """The key for a token's ``kid`` (tokens without one: the current key)."""
        return self.verify_keys.get(self.kid if kid is None else kid)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JSON Web Key Set (RFC 7517) of the public keys that verify our
        tokens, each with the ``kid`` the tokens carry; empty for HMAC."""
        if self.algorithm in HMAC_ALGORITHMS:
            return {"keys": []}  # shared secrets are never published
        return {"keys": [public_jwk(key, kid, self.algorithm) for kid, key in self.verify_keys.items()]}

    def __repr__(self) -> str:
        return f"KeyRing(algorithm={self.algorithm!r}, kid={self.kid!r}, kids={sorted(self.verify_keys)!r})"


def load(config: Mapping[str, Any], secret: Optional[str], lenient: bool) -> KeyRing:
    """The key ring described by ``config``; ConfigError naming the bad key.

    ``lenient`` (testing or debug) accepts HMAC secrets under 32 bytes.
    """
    algorithm = config["AUTH_ALGORITHM"]
    if algorithm in HMAC_ALGORITHMS:
        for key in ("AUTH_PRIVATE_KEY", "AUTH_PUBLIC_KEY"):
            if config.get(key):
                raise ConfigError(f"{key} is for RSA, EC or EdDSA algorithms; {algorithm} signs with AUTH_SECRET_KEY")
        if not secret:
            raise ConfigError("AUTH_SECRET_KEY is not set (nor Flask's SECRET_KEY): tokens cannot be signed")
        signing_key = verify_key = hmac_secret("AUTH_SECRET_KEY", secret, lenient)
    else:
        signing_key = private_key("AUTH_PRIVATE_KEY", config.get("AUTH_PRIVATE_KEY"), algorithm)
        verify_key = signing_key.public_key()
        if config.get("AUTH_PUBLIC_KEY"):
            given = public_key("AUTH_PUBLIC_KEY", config["AUTH_PUBLIC_KEY"], algorithm)
            if spki(given) != spki(verify_key):
                raise ConfigError("AUTH_PUBLIC_KEY does not match AUTH_PRIVATE_KEY")

    kid = config.get("AUTH_KEY_ID") or derive_kid(verify_key)
    if not isinstance(kid, str):
        raise ConfigError("AUTH_KEY_ID must be a string")
    verify_keys = {kid: verify_key}
    for old_kid, old_key in older_keys(config.get("AUTH_VERIFY_KEYS"), algorithm, lenient).items():
        if old_kid in verify_keys:
            raise ConfigError(f"AUTH_VERIFY_KEYS: kid {old_kid!r} is already the current key's (AUTH_KEY_ID)")
        verify_keys[old_kid] = old_key
    derived = derived_secrets(signing_key, verify_keys, secret, config.get("AUTH_VERIFY_KEYS"), lenient)
    return KeyRing(algorithm, kid, signing_key, verify_keys, derived)


def derived_secrets(
    signing_key: Any, verify_keys: Mapping[str, Any], secret: Optional[str], older: Any, lenient: bool
) -> tuple[bytes, ...]:
    """The ring's derived secrets, the one to issue with first.

    HMAC: the signing secret's, then the older secrets'. RSA, EC, EdDSA: the
    app's secret's when it has one of ``MIN_SECRET_BYTES`` (any in testing
    or debug), which no signing-key rotation changes; then the private
    signing key's and those of the private keys in ``AUTH_VERIFY_KEYS``
    (what issued them without a secret, or before the secret came first).
    """
    if isinstance(signing_key, str):
        materials: list[Any] = [signing_key, *(k for k in verify_keys.values() if k != signing_key)]
    else:
        usable = secret and (lenient or len(secret.encode("utf-8", "surrogateescape")) >= MIN_SECRET_BYTES)
        materials = [secret] if usable else []
        materials += [signing_key, *private_halves(older)]
    return tuple(dict.fromkeys(derive_secret(material) for material in materials))


def private_halves(value: Any) -> list[Any]:
    """The private keys among the PEM keys of ``AUTH_VERIFY_KEYS`` (already validated)."""
    materials = value.values() if isinstance(value, Mapping) else value or ()
    found = []
    for material in materials:
        try:
            found.append(serialization.load_pem_private_key(pem_bytes("AUTH_VERIFY_KEYS", material), password=None))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass  # a public key
    return found


def derive_secret(key: Any) -> bytes:
    """A secret of its own from an HMAC secret or a private key (never a public one)."""
    if isinstance(key, str):
        material = key.encode("utf-8", "surrogateescape")
    else:
        material = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    return hmac.new(material, b"flask-auth-service-mongo derived key", "sha256").digest()


def older_keys(value: Any, algorithm: str, lenient: bool) -> dict[str, Any]:
    """``AUTH_VERIFY_KEYS``: a mapping kid -> key or a list of keys."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        items = [(None, item) for item in value]
    else:
        raise ConfigError("AUTH_VERIFY_KEYS must be a mapping kid -> key or a list of keys")
    keys = {}
    for kid, material in items:
        if kid is not None and (not isinstance(kid, str) or not kid):
            raise ConfigError("AUTH_VERIFY_KEYS: every kid must be a non-empty string")
        if algorithm in HMAC_ALGORITHMS:
            key = hmac_secret("AUTH_VERIFY_KEYS", material, lenient)
        else:
            key = public_key("AUTH_VERIFY_KEYS", material, algorithm)
        keys[kid or derive_kid(key)] = key
    return keys


def hmac_secret(name: str, value: Any, lenient: bool) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string")
    if len(value.encode("utf-8", "surrogateescape")) < MIN_SECRET_BYTES and not lenient:
        raise ConfigError(
            f"{name} must be at least {MIN_SECRET_BYTES} bytes long (0.1.8 accepted shorter keys): choose a new one, "
            f'e.g. the output of python -c "import secrets; print(secrets.token_urlsafe(48))"; '
            "tokens signed with the old key stop working, so users sign in again"
        )
    try:
        HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(value)
    except jwt.InvalidKeyError:
        raise ConfigError(f"{name} looks like a PEM or JWK key, not an HMAC secret") from None
    return value


def pem_bytes(name: str, value: Any) -> bytes:
    """PEM text as given, or the content of the file it names."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be PEM text or the path of a PEM file")
    if "-----BEGIN" in value:
        return value.encode("ascii", "replace")
    try:
        return Path(value).expanduser().read_bytes()
    except OSError as exc:
        # The value is not echoed: it may be a secret given in the wrong place.
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{name} is neither PEM text nor the path of a readable PEM file ({reason})") from None


def private_key(name: str, value: Any, algorithm: str) -> Any:
    if not value:
        raise ConfigError(f"{name} is required for {algorithm} (PEM text or the path of a PEM file)")
    data = pem_bytes(name, value)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(f"{name} is not an unencrypted PEM private key") from None
    check_type(name, key.public_key(), algorithm)
    return key


def public_key(name: str, value: Any, algorithm: str) -> Any:
    """A PEM public key; a private key gives its public half (old signing keys)."""
    data = pem_bytes(name, value)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError(f"{name}: not a PEM public key") from None
    check_type(name, key, algorithm)
    return key


def check_type(name: str, key: Any, algorithm: str) -> None:
    if algorithm in RSA_ALGORITHMS:
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
            raise ConfigError(f"{name} must be an RSA key of at least {MIN_RSA_BITS} bits for {algorithm}")
    elif algorithm in EC_CURVES:
        curve = EC_CURVES[algorithm]
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curve):
            raise ConfigError(f"{name} must be an EC key on curve {curve.name} for {algorithm}")
    elif not isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        raise ConfigError(f"{name} must be an Ed25519 or Ed448 key for {algorithm}")


def public_jwk(key: Any, kid: str, algorithm: str) -> dict[str, str]:
    """PyJWT's JWK of a public key, with its ``kid``, ``alg`` and ``use``."""
    jwk = json.loads(get_default_algorithms()[algorithm].to_jwk(key))
    jwk.pop("key_ops", None)  # RFC 7517 4.3: not together with "use"
    if PRIVATE_MEMBERS & jwk.keys():
        raise ValueError("refusing to publish a private key")  # verify_keys hold public keys only
    return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}


def spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def derive_kid(verify_key: Any) -> str:
    """A stable id for a key: a hash of the public key, or an HMAC of a fixed
    label under the secret (which tells nothing about the secret)."""
    if isinstance(verify_key, str):
        digest = hmac.new(verify_key.encode("utf-8", "surrogateescape"), b"flask-auth-service-mongo kid", "sha256")
        raw = digest.digest()
    else:
        raw = hashlib.sha256(spki(verify_key)).digest()
    return base64.urlsafe_b64encode(raw[:12]).decode("ascii")

"""Signing keys: algorithms, key pairs from config or files, kid and rotation."""

import base64
import datetime
import hashlib
import hmac
import json

import jwt
import pytest
from conftest import PASSWORD, SECRET, bearer, database_uri
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask import Flask
from freezegun import freeze_time

from flask_auth_service_mongo import AuthService
from flask_auth_service_mongo.errors import ConfigError


def pem_private(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def pem_public(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_pairs(rsa_key):
    return {
        "RS256": rsa_key,
        "PS256": rsa_key,
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
    }


def log_in(app) -> dict:
    response = app.test_client().post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.json
    return response.json["data"]


def me(app, token: str):
    return app.test_client().get("/admin/me", headers=bearer(token))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, claims: dict, sign=lambda signing_input: b"sig") -> str:
    """A token with any header, signed by ``sign`` (by default not at all)."""
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return signing_input + "." + b64(sign(signing_input.encode()))


def test_hs256_is_the_default_and_tokens_carry_a_kid(make_app, make_user):
    app = make_app()
    make_user()
    token = log_in(app)["token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and isinstance(header["kid"], str) and header["kid"]
    assert SECRET not in header["kid"]
    assert me(app, token).status_code == 200


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "ES384", "EdDSA"])
def test_asymmetric_algorithms_sign_with_the_private_key(make_app, make_user, key_pairs, algorithm):
    key = key_pairs[algorithm]
    app = make_app(AUTH_ALGORITHM=algorithm, AUTH_PRIVATE_KEY=pem_private(key))
    make_user()
    pair = log_in(app)
    assert jwt.get_unverified_header(pair["token"])["alg"] == algorithm
    claims = jwt.decode(pair["token"], key.public_key(), algorithms=[algorithm])
    assert claims["type"] == "access"
    assert me(app, pair["token"]).status_code == 200
    refreshed = app.test_client().post("/admin/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200


def test_keys_can_be_read_from_pem_files(make_app, make_user, rsa_key, tmp_path):
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    private.write_text(pem_private(rsa_key))
    public.write_text(pem_public(rsa_key))
    app = make_app(AUTH_ALGORITHM="RS256", AUTH_PRIVATE_KEY=str(private), AUTH_PUBLIC_KEY=str(public))
    make_user()
    assert me(app, log_in(app)["token"]).status_code == 200


def test_a_key_rotation_keeps_tokens_signed_with_the_old_key(make_app, make_user, rsa_key, other_rsa_key):
    old_app = make_app(AUTH_ALGORITHM="RS256", AUTH_PRIVATE_KEY=pem_private(rsa_key))
    make_user()
    old_pair = log_in(old_app)
    new_app = make_app(
        AUTH_ALGORITHM="RS256", AUTH_PRIVATE_KEY=pem_private(other_rsa_key), AUTH_VERIFY_KEYS=[pem_public(rsa_key)]
    )
    assert me(new_app, old_pair["token"]).status_code == 200
    refreshed = new_app.test_client().post("/admin/refresh", json={"refresh_token": old_pair["refresh_token"]})
    assert refreshed.status_code == 200
    new_token = refreshed.json["data"]["token"]
    assert jwt.get_unverified_header(new_token)["kid"] != jwt.get_unverified_header(old_pair["token"])["kid"]
    assert me(new_app, new_token).status_code == 200
    # Once the old key is dropped, its tokens stop working.
    newest_app = make_app(AUTH_ALGORITHM="RS256", AUTH_PRIVATE_KEY=pem_private(other_rsa_key))
    assert me(newest_app, log_in(old_app)["token"]).json == {"message": "invalid_token"}
    assert me(newest_app, new_token).status_code == 200


def test_an_hmac_secret_rotates_with_a_kid_mapping(make_app, make_user):
    old_app = make_app(AUTH_SECRET_KEY="o" * 40, AUTH_KEY_ID="2024")
    make_user()
    token = log_in(old_app)["token"]
    assert jwt.get_unverified_header(token)["kid"] == "2024"
    new_app = make_app(AUTH_SECRET_KEY="n" * 40, AUTH_KEY_ID="2025", AUTH_VERIFY_KEYS={"2024": "o" * 40})
    assert me(new_app, token).status_code == 200
    assert jwt.get_unverified_header(log_in(new_app)["token"])["kid"] == "2025"


def test_an_unknown_kid_is_an_invalid_token(make_app, make_user):
    app = make_app()
    make_user()
    claims = jwt.decode(log_in(app)["token"], SECRET, algorithms=["HS256"])
    token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "someone-else"})
    assert me(app, token).json == {"message": "invalid_token"}


@pytest.mark.parametrize("kid", [5, None, ["a"], {"a": 1}])
def test_a_kid_that_is_not_a_string_is_an_invalid_token(make_app, make_user, kid):
    app = make_app()
    make_user()
    claims = jwt.decode(log_in(app)["token"], SECRET, algorithms=["HS256"])
    unsigned = forge({"alg": "HS256", "typ": "JWT", "kid": kid}, claims)
    assert me(app, unsigned).json == {"message": "invalid_token"}


def test_a_token_signed_hs256_with_the_public_key_is_refused(make_app, make_user, rsa_key):
    app = make_app(AUTH_ALGORITHM="RS256", AUTH_PRIVATE_KEY=pem_private(rsa_key))
    make_user()
    token = log_in(app)["token"]
    claims = jwt.decode(token, rsa_key.public_key(), algorithms=["RS256"])
    header = {**jwt.get_unverified_header(token), "alg": "HS256"}
    public_pem = pem_public(rsa_key).encode()
    confused = forge(header, claims, lambda data: hmac.new(public_pem, data, hashlib.sha256).digest())
    assert me(app, confused).json == {"message": "invalid_token"}
    unsigned = forge({**header, "alg": "none"}, claims, lambda data: b"")
    assert me(app, unsigned).json == {"message": "invalid_token"}


def test_leeway_accepts_a_token_just_past_its_expiry(make_app, make_user):
    app = make_app(AUTH_LEEWAY_SECONDS=30)
    make_user()
    token = log_in(app)["token"]
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=60, seconds=10)
    with freeze_time(later):
        assert me(app, token).status_code == 200
    with freeze_time(later + datetime.timedelta(seconds=30)):
        assert me(app, token).json == {"message": "signature_expired"}


def build(db_name, **config):
    app = Flask(__name__)
    app.config.update({"MONGODB_URI": database_uri(db_name), "SECRET_KEY": "k" * 32, **config})
    AuthService(app)
    return app


def test_an_asymmetric_algorithm_needs_no_secret(db_name, rsa_key, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = build(db_name, SECRET_KEY=None, AUTH_ALGORITHM="RS256", AUTH_PRIVATE_KEY=pem_private(rsa_key))
    assert app.config["AUTH_ALGORITHM"] == "RS256"


@pytest.mark.parametrize(
    "config, key, reason",
    [
        ({"AUTH_ALGORITHM": "RS256"}, "AUTH_PRIVATE_KEY", "is required"),
        ({"AUTH_ALGORITHM": "RS256", "AUTH_PRIVATE_KEY": "/no/such/key.pem"}, "AUTH_PRIVATE_KEY", "readable PEM file"),
        ({"AUTH_ALGORITHM": "RS256", "AUTH_PRIVATE_KEY": "-----BEGIN junk"}, "AUTH_PRIVATE_KEY", "unencrypted PEM"),
        ({"AUTH_ALGORITHM": "ES256", "PRIVATE": "rsa"}, "AUTH_PRIVATE_KEY", "curve secp256r1"),
        ({"AUTH_ALGORITHM": "ES384", "PRIVATE": "es256"}, "AUTH_PRIVATE_KEY", "curve secp384r1"),
        ({"AUTH_ALGORITHM": "RS256", "PRIVATE": "rsa1024"}, "AUTH_PRIVATE_KEY", "at least 2048 bits"),
        ({"AUTH_ALGORITHM": "EdDSA", "PRIVATE": "rsa"}, "AUTH_PRIVATE_KEY", "Ed25519"),
        ({"AUTH_ALGORITHM": "RS256", "PRIVATE": "rsa", "PUBLIC": "other"}, "AUTH_PUBLIC_KEY", "does not match"),
        ({"PRIVATE": "rsa"}, "AUTH_PRIVATE_KEY", "HS256 signs with AUTH_SECRET_KEY"),
        ({"AUTH_VERIFY_KEYS": ["short"]}, "AUTH_VERIFY_KEYS", "at least 32 bytes"),
        ({"AUTH_VERIFY_KEYS": "o" * 40}, "AUTH_VERIFY_KEYS", "mapping kid -> key or a list"),
        ({"AUTH_VERIFY_KEYS": {"": "o" * 40}}, "AUTH_VERIFY_KEYS", "non-empty string"),
        ({"AUTH_KEY_ID": "k", "AUTH_VERIFY_KEYS": {"k": "o" * 40}}, "AUTH_VERIFY_KEYS", "already the current"),
        ({"AUTH_ALGORITHM": "RS256", "PRIVATE": "rsa", "AUTH_VERIFY_KEYS": ["o" * 40]}, "AUTH_VERIFY_KEYS", "PEM"),
        ({"SECRET": "rsa"}, "AUTH_SECRET_KEY", "not an HMAC secret"),
        ({"AUTH_ALGORITHM": "HS1"}, "AUTH_ALGORITHM", "must be one of"),
    ],
)
def test_bad_keys_fail_at_start_up_naming_the_key(db_name, rsa_key, other_rsa_key, config, key, reason):
    keys = {
        "rsa": rsa_key,
        "other": other_rsa_key,
        "es256": ec.generate_private_key(ec.SECP256R1()),
        "rsa1024": rsa.generate_private_key(public_exponent=65537, key_size=1024),
    }
    config = dict(config)
    if "PRIVATE" in config:
        config["AUTH_PRIVATE_KEY"] = pem_private(keys[config.pop("PRIVATE")])
    if "SECRET" in config:
        config["AUTH_SECRET_KEY"] = pem_public(keys[config.pop("SECRET")])
    if "PUBLIC" in config:
        config["AUTH_PUBLIC_KEY"] = pem_public(keys[config.pop("PUBLIC")])
    with pytest.raises(ConfigError, match=key) as raised:
        build(db_name, **config)
    assert reason in str(raised.value)
    assert "o" * 40 not in str(raised.value)

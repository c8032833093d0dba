"""Enrolling a TOTP second factor, its recovery codes and its removal: fresh
login required, secrets encrypted at rest, codes hashed, other sessions end."""

import contextlib
import datetime
import hashlib

import pyotp
import pytest
from conftest import bearer
from mfa_helpers import Authenticator, begin, database, enrol

from flask_auth_service_mongo import signals
from flask_auth_service_mongo.models import LEGACY_USER_FIELDS, User


@contextlib.contextmanager
def recorded(signal, app):
    sent = []
    with signal.connected_to(lambda sender, **kwargs: sent.append(kwargs), app):
        yield sent


def post(client, path, token, body=None):
    return client.post(path, json={} if body is None else body, headers=bearer(token))


def test_begin_gives_the_secret_its_otpauth_uri_and_a_qr_code(client, pair):
    answer = begin(client, pair["access_token"])
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    data = answer.json["data"]
    parsed = pyotp.parse_uri(data["otpauth_uri"])
    assert parsed.secret == data["secret"]
    assert parsed.issuer == "examples.app"  # the app's name
    assert parsed.name == "alice"
    assert data["qr_svg"].startswith("<svg") and "</svg>" in data["qr_svg"]


def test_the_issuer_is_configurable(make_app, make_user):
    app = make_app(AUTH_MFA_ISSUER="Example Corp")
    client = app.test_client()
    make_user()
    token = client.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]
    uri = begin(client, token["access_token"]).json["data"]["otpauth_uri"]
    assert pyotp.parse_uri(uri).issuer == "Example Corp"


def test_confirming_with_the_first_code_enrols_and_shows_ten_recovery_codes_once(app, client, pair):
    with recorded(signals.mfa_enrolled, app) as enrolled:
        authenticator, codes = enrol(client, pair["access_token"])
    assert len(codes) == 10 and len(set(codes)) == 10
    assert enrolled == [{"user": enrolled[0]["user"], "method": "totp"}]
    assert enrolled[0]["user"].username == "alice"
    again = post(client, "/admin/mfa/totp/confirm", pair["access_token"], {"code": authenticator.code()})
    assert (again.status_code, again.json) == (409, {"message": "mfa_already_enrolled"})
    assert begin(client, pair["access_token"]).status_code == 409


@pytest.mark.parametrize(
    "code",
    ["000000", "12 3456", " 123456", "123456 ", "+12345", "+123456", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12345\n"],
)
def test_a_wrong_or_malformed_code_does_not_enrol(app, client, pair, code):
    secret = begin(client, pair["access_token"]).json["data"]["secret"]
    right = pyotp.TOTP(secret).now()
    if code == "000000" and right == code:
        code = "111111"
    with recorded(signals.mfa_failed, app) as failed:
        answer = post(client, "/admin/mfa/totp/confirm", pair["access_token"], {"code": code})
    assert (answer.status_code, answer.json) == (400, {"message": "bad_code"})
    assert [f["method"] for f in failed] == ["totp"]
    assert database(app).auth_factor.find_one({"confirmed": True}) is None


@pytest.mark.parametrize("body", [{}, {"code": 123456}, {"code": None}, {"code": ""}, {"code": "1", "x": 1}])
def test_a_confirmation_body_of_the_wrong_shape_is_a_bad_request(client, pair, body):
    begin(client, pair["access_token"])
    answer = post(client, "/admin/mfa/totp/confirm", pair["access_token"], body)
    assert answer.status_code == 400 and answer.json["message"] == "bad_request"


def test_a_code_beyond_one_step_of_drift_does_not_enrol(client, pair):
    secret = begin(client, pair["access_token"]).json["data"]["secret"]
    authenticator = Authenticator(secret)
    for offset in (-3, 3):
        answer = post(client, "/admin/mfa/totp/confirm", pair["access_token"], {"code": authenticator.code_at(offset)})
        assert answer.json == {"message": "bad_code"}


def test_confirming_with_nothing_begun_is_a_bad_code(client, pair):
    answer = post(client, "/admin/mfa/totp/confirm", pair["access_token"], {"code": "123456"})
    assert (answer.status_code, answer.json) == (400, {"message": "bad_code"})


def test_the_secret_is_encrypted_and_the_recovery_codes_hashed_at_rest(app, client, pair):
    alice = User.find_by_username("alice")
    secret = begin(client, pair["access_token"]).json["data"]["secret"]
    authenticator = Authenticator(secret)
    codes = post(client, "/admin/mfa/totp/confirm", pair["access_token"], {"code": authenticator.code()}).json["data"][
        "recovery_codes"
    ]
    db = database(app)
    factor = db.auth_factor.find_one({"user": alice.pk})
    stored = repr(factor)
    assert secret not in stored and secret.lower() not in stored
    everything = repr(list(db.auth_recovery_code.find()))
    assert db.auth_recovery_code.count_documents({"user": alice.pk}) == 10
    for code in codes:
        assert code not in everything and code.replace("-", "") not in everything
    assert set(db.user.find_one({"_id": alice.pk})) == LEGACY_USER_FIELDS  # 0.1.8's document untouched
    assert hashlib.sha256(secret.encode()).hexdigest() not in stored


def test_enrolment_ends_the_other_sessions_and_keeps_the_callers(client, pair, login):
    other = login()
    enrol(client, pair["access_token"])
    assert client.get("/admin/me", headers=bearer(other["access_token"])).status_code == 401
    assert client.get("/admin/me", headers=bearer(pair["access_token"])).status_code == 200


def _age_the_login(app, minutes):
    """The session's password check as if it were ``minutes`` old."""
    past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=minutes)
    database(app).session.update_many({}, {"$set": {"authenticated_at": past}})


@pytest.mark.parametrize("path", ["/admin/mfa/totp", "/admin/mfa/totp/confirm", "/admin/mfa/recovery-codes"])
def test_enrolment_asks_for_a_login_within_five_minutes(app, client, pair, path):
    _age_the_login(app, 6)
    answer = post(client, path, pair["access_token"], {"code": "123456"})
    assert (answer.status_code, answer.json) == (401, {"message": "fresh_login_required"})


def test_enrolment_needs_a_signed_in_user(client):
    answer = client.post("/admin/mfa/totp", json={})
    assert (answer.status_code, answer.json["message"]) == (401, "unauthorized")


def test_new_recovery_codes_void_the_old_set(app, client, pair):
    enrol(client, pair["access_token"])
    before = {doc["_id"] for doc in database(app).auth_recovery_code.find()}
    answer = post(client, "/admin/mfa/recovery-codes", pair["access_token"])
    assert answer.status_code == 200 and len(answer.json["data"]["recovery_codes"]) == 10
    after = {doc["_id"] for doc in database(app).auth_recovery_code.find()}
    assert len(after) == 10 and not before & after


def test_recovery_codes_need_a_second_factor(client, pair):
    answer = post(client, "/admin/mfa/recovery-codes", pair["access_token"])
    assert (answer.status_code, answer.json) == (409, {"message": "mfa_not_enrolled"})


def test_removing_the_factor_needs_a_right_code(app, client, pair):
    enrol(client, pair["access_token"])
    with recorded(signals.mfa_failed, app) as failed:
        answer = post(client, "/admin/mfa/disable", pair["access_token"], {"code": "12 345"})
    assert (answer.status_code, answer.json) == (400, {"message": "bad_code"})
    assert failed and database(app).auth_factor.count_documents({}) == 1


@pytest.mark.parametrize("body", [{}, {"code": "123456", "recovery_code": "x"}, {"code": 1}, {"password": "x"}])
def test_a_removal_body_of_the_wrong_shape_is_a_bad_request(client, pair, body):
    enrol(client, pair["access_token"])
    answer = post(client, "/admin/mfa/disable", pair["access_token"], body)
    assert answer.status_code == 400 and answer.json["message"] == "bad_request"


def test_removing_the_factor_with_a_code_ends_the_other_sessions(app, client, pair, login):
    authenticator, _ = enrol(client, pair["access_token"])
    db = database(app)
    db.session.insert_one({**db.session.find_one(), "_id": "another-device"})
    with recorded(signals.mfa_removed, app) as removed:
        answer = post(client, "/admin/mfa/disable", pair["access_token"], {"code": authenticator.code()})
    assert answer.status_code == 200
    assert [r["method"] for r in removed] == ["totp"]
    assert db.auth_factor.count_documents({}) == 0 and db.auth_recovery_code.count_documents({}) == 0
    assert db.session.find_one({"_id": "another-device"}) is None
    assert client.get("/admin/me", headers=bearer(pair["access_token"])).status_code == 200
    assert login()["access_token"]  # the password alone signs in again
    assert db.session.find_one({"_id": {"$ne": "another-device"}, "acr": "aal1"})  # the caller's is aal1 again


def test_removing_the_factor_with_a_recovery_code(app, client, pair):
    _, codes = enrol(client, pair["access_token"])
    with recorded(signals.recovery_code_used, app) as used:
        answer = post(client, "/admin/mfa/disable", pair["access_token"], {"recovery_code": codes[3].upper()})
    assert answer.status_code == 200
    assert [u["remaining"] for u in used] == [9]


def _enrolled_under(make_app, make_user, key):
    client = make_app(AUTH_FACTOR_KEY=key).test_client()
    make_user()
    token = client.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]
    return enrol(client, token["access_token"])


def _second_step(client, **factor):
    first = client.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]
    return client.post("/admin/login/mfa", json={"mfa_token": first["mfa_token"], **factor})


def test_a_changed_factor_key_fails_closed(make_app, make_user):
    authenticator, codes = _enrolled_under(make_app, make_user, "k" * 40)
    code = authenticator.code()
    other = make_app(AUTH_FACTOR_KEY="x" * 40).test_client()
    assert _second_step(other, code=code).json == {"message": "bad_code"}
    assert _second_step(other, recovery_code=codes[0]).status_code == 200  # hashed, not encrypted
    assert _second_step(make_app(AUTH_FACTOR_KEY="k" * 40).test_client(), code=code).status_code == 200


def test_an_older_factor_key_still_decrypts_during_a_rotation(make_app, make_user):
    authenticator, _ = _enrolled_under(make_app, make_user, "k" * 40)
    rotated = make_app(AUTH_FACTOR_KEY=["n" * 40, "k" * 40]).test_client()
    assert _second_step(rotated, code=authenticator.code()).status_code == 200


@pytest.mark.parametrize("value", ["short", 42, ["ok" * 20, ""]])
def test_a_bad_factor_key_is_refused_at_start_up(make_app, value):
    from flask_auth_service_mongo.errors import ConfigError

    with pytest.raises(ConfigError, match="AUTH_FACTOR_KEY"):
        make_app(AUTH_FACTOR_KEY=value)


def _ed25519_pem():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


def test_with_an_asymmetric_key_a_signing_key_rotation_keeps_the_factors(make_app, make_user):
    # Derived from the app's secret (SECRET_KEY), which no signing-key rotation changes.
    client = make_app(AUTH_ALGORITHM="EdDSA", AUTH_PRIVATE_KEY=_ed25519_pem()).test_client()
    make_user()
    token = client.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]
    authenticator, _ = enrol(client, token["access_token"])
    rotated = make_app(AUTH_ALGORITHM="EdDSA", AUTH_PRIVATE_KEY=_ed25519_pem()).test_client()
    assert _second_step(rotated, code=authenticator.code()).status_code == 200

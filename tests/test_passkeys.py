"""Passkeys through the API, with a software authenticator (the browser test
drives Chromium's virtual authenticator: tests/test_browser_passkeys.py)."""

import threading
from datetime import timedelta

import pytest
from conftest import PASSWORD, bearer
from freezegun import freeze_time
from soft_authenticator import SoftAuthenticator, b64

from flask_auth_service_mongo import signals
from flask_auth_service_mongo.clock import utcnow
from flask_auth_service_mongo.models import User
from flask_auth_service_mongo.state import get_state

PASSKEYS = {"AUTH_WEBAUTHN_RP_ID": "localhost", "AUTH_WEBAUTHN_ORIGINS": "http://localhost"}
BAD_CREDENTIALS = (400, {"message": "bad_credentials"})


@pytest.fixture
def app(make_app):
    return make_app(**PASSKEYS)


@pytest.fixture
def token(make_user, login):
    make_user()
    return login()["token"]


def register(client, token, authenticator, name="laptop"):
    options = client.post("/admin/passkeys/register/begin", headers=bearer(token))
    assert options.status_code == 200, options.json
    credential = authenticator.create(options.json["data"])
    return client.post(
        "/admin/passkeys/register/finish", json={"credential": credential, "name": name}, headers=bearer(token)
    )


def sign_in_options(client):
    response = client.post("/admin/passkeys/login/begin")
    assert response.status_code == 200, response.json
    return response.json["data"]


def finish(client, credential):
    response = client.post("/admin/passkeys/login/finish", json={"credential": credential})
    return response.status_code, response.json


def test_a_passkey_registered_signs_in_without_a_username(app, client, token):
    authenticator = SoftAuthenticator()
    registered = register(client, token, authenticator)
    assert registered.status_code == 201
    assert registered.json["data"]["name"] == "laptop"
    assert registered.json["data"]["id"] == b64(authenticator.credential_id)

    options = sign_in_options(client)
    assert options["rpId"] == "localhost" and options["userVerification"] == "required"
    status, body = finish(client, authenticator.get(options))
    assert status == 200, body
    new_token = body["data"]["access_token"]
    assert client.get("/admin/me", headers=bearer(new_token)).json["data"]["username"] == "alice"
    with app.app_context():
        session = get_state().store.sessions.find_one({"_id": {"$ne": None}}, sort=[("created_at", -1)])
        assert (session["amr"], session["acr"]) == (["hwk", "user"], "aal2")


def test_the_creation_options_ask_for_user_verification_and_a_resident_key(client, token):
    options = client.post("/admin/passkeys/register/begin", headers=bearer(token)).json["data"]
    assert options["rp"] == {"id": "localhost", "name": "examples.app"}
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["user"]["name"] == "alice"


def test_passkeys_are_listed_and_removed_by_their_owner(client, token, make_user, login):
    authenticator = SoftAuthenticator()
    passkey_id = register(client, token, authenticator).json["data"]["id"]
    listed = client.get("/admin/passkeys", headers=bearer(token)).json["data"]
    assert [(p["id"], p["name"], p["last_used_at"]) for p in listed] == [(passkey_id, "laptop", None)]
    assert "public_key" not in listed[0]

    make_user(username="bob")
    bob = login(username="bob")["token"]
    assert client.get("/admin/passkeys", headers=bearer(bob)).json["data"] == []
    assert client.delete(f"/admin/passkeys/{passkey_id}", headers=bearer(bob)).status_code == 404

    assert client.delete(f"/admin/passkeys/{passkey_id}", headers=bearer(token)).json == {"message": "ok"}
    assert client.get("/admin/passkeys", headers=bearer(token)).json["data"] == []
    assert finish(client, authenticator.get(sign_in_options(client))) == BAD_CREDENTIALS


def test_registration_needs_a_fresh_login(client, token):
    with freeze_time(utcnow() + timedelta(minutes=6)):
        response = client.post("/admin/passkeys/register/begin", headers=bearer(token))
        assert (response.status_code, response.json) == (401, {"message": "fresh_login_required"})


def test_a_challenge_serves_one_ceremony_once(client, token):
    authenticator = SoftAuthenticator()
    register(client, token, authenticator)
    options = sign_in_options(client)
    assertion = authenticator.get(options)
    assert finish(client, assertion)[0] == 200
    assert finish(client, authenticator.get(options)) == BAD_CREDENTIALS  # the same challenge again
    # a registration challenge does not sign in
    creation = client.post("/admin/passkeys/register/begin", headers=bearer(token)).json["data"]
    assert finish(client, authenticator.get({"challenge": creation["challenge"], "rpId": "localhost"})) == (
        BAD_CREDENTIALS
    )


def test_a_wrong_origin_or_relying_party_is_refused(client, token):
    authenticator = SoftAuthenticator()
    register(client, token, authenticator)
    assert finish(client, authenticator.get(sign_in_options(client), origin="https://evil.example")) == BAD_CREDENTIALS
    assert finish(client, authenticator.get(sign_in_options(client), rp_id="evil.example")) == BAD_CREDENTIALS
    other = SoftAuthenticator(origin="https://evil.example")
    assert register(client, token, other, name="phish").json == {"message": "bad_credentials"}


def test_an_authenticator_without_user_verification_is_refused(client, token):
    unverified = SoftAuthenticator(user_verification=False)
    assert register(client, token, unverified).json == {"message": "bad_credentials"}
    verified = SoftAuthenticator()
    register(client, token, verified)
    verified.user_verification = False
    assert finish(client, verified.get(sign_in_options(client))) == BAD_CREDENTIALS


def test_an_unknown_credential_is_refused(client, token):
    assert finish(client, SoftAuthenticator().get(sign_in_options(client))) == BAD_CREDENTIALS


def test_a_counter_that_goes_backwards_is_refused_and_signalled(app, client, token):
    authenticator = SoftAuthenticator()
    register(client, token, authenticator)
    assert finish(client, authenticator.get(sign_in_options(client), count=5))[0] == 200
    failures = []

    def record(sender, user, method, reason, **kwargs):
        failures.append((user.username, method, reason))

    with signals.mfa_failed.connected_to(record, app):
        assert finish(client, authenticator.get(sign_in_options(client), count=3)) == BAD_CREDENTIALS
    assert failures == [("alice", "passkey", "cloned_authenticator")]


@pytest.mark.parametrize(
    "body",
    [
        {"credential": "not an object"},
        {"credential": {"id": "abc"}},
        {"credential": {"id": 1, "rawId": [], "type": "public-key", "response": {}}},
        {"credential": None},
        {"credential": {}, "extra": 1},
    ],
    ids=["string", "truncated", "wrong types", "null", "unknown field"],
)
def test_malformed_credentials_are_bad_requests(client, token, body):
    response = client.post("/admin/passkeys/login/finish", json=body)
    assert (response.status_code, response.json["message"]) == (400, "bad_request")


def test_a_tampered_assertion_is_refused(client, token):
    authenticator = SoftAuthenticator()
    register(client, token, authenticator)
    assertion = authenticator.get(sign_in_options(client))
    signature = bytearray(assertion["response"]["signature"].encode())
    signature[10] = ord("A") if signature[10] != ord("A") else ord("B")
    assertion["response"]["signature"] = signature.decode()
    assert finish(client, assertion) == BAD_CREDENTIALS


def test_a_huge_body_is_a_bad_request(client):
    response = client.post("/admin/passkeys/login/finish", json={"credential": {"id": "x" * 100_000}})
    assert (response.status_code, response.json["message"]) == (400, "bad_request")


def test_a_deactivated_user_cannot_sign_in_and_loses_its_passkeys(app, client, token):
    authenticator = SoftAuthenticator()
    register(client, token, authenticator)
    options = sign_in_options(client)
    user = User.objects.get(username="alice")
    user.active = False
    user.save()
    assert finish(client, authenticator.get(options)) == BAD_CREDENTIALS
    with app.app_context():
        assert get_state().database["auth_passkey"].count_documents({}) == 0


def test_a_user_disabled_around_the_models_cannot_sign_in(client, token):
    authenticator = SoftAuthenticator()
    register(client, token, authenticator)
    User.objects(username="alice").update(set__active=False)
    assert finish(client, authenticator.get(sign_in_options(client))) == BAD_CREDENTIALS


def test_passkeys_are_off_without_a_relying_party(make_app, make_user, login):
    app = make_app()
    client = app.test_client()
    assert client.post("/admin/passkeys/login/begin").status_code == 404


def test_two_uses_of_one_assertion_at_once_open_one_session(app, token):
    authenticator = SoftAuthenticator()
    client = app.test_client()
    register(client, token, authenticator)
    assertion = authenticator.get(sign_in_options(client))
    answers = []
    barrier = threading.Barrier(4)

    def use():
        own = app.test_client()
        barrier.wait()
        answers.append(finish(own, assertion)[0])

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 400, 400, 400]


def test_a_passkey_sign_in_gives_back_no_login_slots(app, client, token):
    authenticator = SoftAuthenticator()
    assert register(client, token, authenticator).status_code == 201
    for ip in ("198.51.100.1", "198.51.100.2"):
        wrong = {"username": "alice", "password": "wrong password"}
        assert client.post("/admin/login", json=wrong, environ_base={"REMOTE_ADDR": ip}).status_code == 400
    with app.app_context():
        counters = get_state().database["login_attempt"]
        before = sorted((c["_id"], c["count"]) for c in counters.find())
        assert finish(client, authenticator.get(sign_in_options(client)))[0] == 200
        # The account-wide failures stay counted: the owner's passkey took no slot.
        assert sorted((c["_id"], c["count"]) for c in counters.find()) == before


def password_step(client):
    response = client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert response.json["message"] == "mfa_required", response.json
    return response.json["data"]


def second_factor_options(client, mfa_token):
    response = client.post("/admin/passkeys/login/begin", json={"mfa_token": mfa_token})
    assert response.status_code == 200, response.json
    return response.json["data"]


def test_a_passkey_is_a_second_factor_after_the_password(app, client, token):
    authenticator = SoftAuthenticator()
    register(client, token, authenticator)
    step = password_step(client)
    assert "passkey" in step["methods"]
    options = second_factor_options(client, step["mfa_token"])
    assert [c["id"] for c in options["allowCredentials"]] == [b64(authenticator.credential_id)]
    answer = client.post(
        "/admin/login/mfa", json={"mfa_token": step["mfa_token"], "passkey": authenticator.get(options)}
    )
    assert answer.status_code == 200, answer.json
    with app.app_context():
        session = get_state().store.sessions.find_one({}, sort=[("created_at", -1)])
        assert (session["amr"], session["acr"]) == (["pwd", "hwk"], "aal2")


def test_a_sign_in_challenge_does_not_serve_as_a_second_factor(client, token):
    authenticator = SoftAuthenticator()
    register(client, token, authenticator)
    step = password_step(client)
    answer = client.post(
        "/admin/login/mfa", json={"mfa_token": step["mfa_token"], "passkey": authenticator.get(sign_in_options(client))}
    )
    assert (answer.status_code, answer.json) == (400, {"message": "bad_code"})


def test_another_users_passkey_is_no_second_factor(client, token, make_user, login):
    make_user(username="bob")
    bob_token = login(username="bob")["token"]
    bobs = SoftAuthenticator()
    register(client, bob_token, bobs)
    register(client, token, SoftAuthenticator())
    step = password_step(client)
    options = second_factor_options(client, step["mfa_token"])
    answer = client.post("/admin/login/mfa", json={"mfa_token": step["mfa_token"], "passkey": bobs.get(options)})
    assert (answer.status_code, answer.json) == (400, {"message": "bad_code"})


def test_second_factor_options_need_a_live_mfa_token(client, token):
    response = client.post("/admin/passkeys/login/begin", json={"mfa_token": "not-a-token"})
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})

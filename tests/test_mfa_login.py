"""The two-step login of a user with a second factor, step-up by assurance
level (RFC 9470), and the confinement of ``AUTH_MFA_REQUIRED_ROLES``."""

import contextlib
import datetime

import jwt
import pytest
from conftest import PASSWORD, SECRET, bearer, graphql, signed_token
from flask import jsonify
from mfa_helpers import database, enrol

from flask_auth_service_mongo import auth, signals


@contextlib.contextmanager
def recorded(signal, app):
    sent = []
    with signal.connected_to(lambda sender, **kwargs: sent.append(kwargs), app):
        yield sent


def password_step(client, password=PASSWORD, **kwargs):
    return client.post("/admin/login", json={"username": "alice", "password": password}, **kwargs)


def code_step(client, body, **kwargs):
    return client.post("/admin/login/mfa", json=body, **kwargs)


@pytest.fixture
def enrolled(client, pair):
    """Alice with TOTP: her authenticator and her recovery codes."""
    return enrol(client, pair["access_token"])


def claims(token):
    return jwt.decode(token, SECRET, algorithms=["HS256"])


def test_a_password_alone_gives_aal1(pair):
    assert claims(pair["access_token"])["acr"] == "aal1"
    assert claims(pair["access_token"])["amr"] == ["pwd"]


def test_the_password_of_an_enrolled_user_opens_no_session_but_asks_for_the_code(app, client, enrolled):
    before = database(app).session.count_documents({})
    with recorded(signals.user_logged_in, app) as logged_in:
        answer = password_step(client)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json["message"] == "mfa_required"
    data = answer.json["data"]
    assert set(data) == {"mfa_token", "methods", "expires_at"}
    assert data["methods"] == ["totp", "recovery_code"]
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    assert now + 290 <= data["expires_at"] <= now + 301
    assert database(app).session.count_documents({}) == before and not logged_in
    stored = repr(list(database(app).auth_mfa_challenge.find()))
    assert data["mfa_token"] not in stored  # kept as a digest


def test_the_code_signs_in_at_aal2(app, client, enrolled):
    authenticator, _ = enrolled
    token = password_step(client).json["data"]["mfa_token"]
    with recorded(signals.user_logged_in, app) as logged_in:
        answer = code_step(client, {"mfa_token": token, "code": authenticator.code()})
    assert answer.status_code == 200, answer.json
    data = answer.json["data"]
    assert answer.json["message"] == "ok" and data["token_type"] == "Bearer" and data["refresh_token"]
    assert claims(data["access_token"])["amr"] == ["pwd", "otp"]
    assert claims(data["access_token"])["acr"] == "aal2"
    assert len(logged_in) == 1
    assert client.get("/admin/me", headers=bearer(data["access_token"])).status_code == 200
    refreshed = client.post("/admin/refresh", json={"refresh_token": data["refresh_token"]}).json["data"]
    assert claims(refreshed["access_token"])["acr"] == "aal2"  # the session keeps its level
    again = code_step(client, {"mfa_token": token, "code": authenticator.code()})
    assert (again.status_code, again.json["message"]) == (401, "unauthorized")  # spent by its success


def test_a_code_is_accepted_once(client, enrolled):
    authenticator, _ = enrolled
    code = authenticator.code()
    first = password_step(client).json["data"]["mfa_token"]
    assert code_step(client, {"mfa_token": first, "code": code}).status_code == 200
    second = password_step(client).json["data"]["mfa_token"]
    replay = code_step(client, {"mfa_token": second, "code": code})
    assert (replay.status_code, replay.json) == (400, {"message": "bad_code"})


@pytest.mark.parametrize(
    "code", ["12 3456", " 123456", "+12345", "+123456", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "000000"]
)
def test_a_wrong_or_malformed_code_is_a_bad_code_and_opens_no_session(app, client, enrolled, code):
    authenticator, _ = enrolled
    if code == "000000" and code in (authenticator.code_at(-1), authenticator.code_at(0), authenticator.code_at(1)):
        code = "999999" if "999999" not in (authenticator.code_at(0),) else "111111"
    before = database(app).session.count_documents({})
    token = password_step(client).json["data"]["mfa_token"]
    with recorded(signals.mfa_failed, app) as failed:
        answer = code_step(client, {"mfa_token": token, "code": code})
    assert (answer.status_code, answer.json) == (400, {"message": "bad_code"})
    assert [f["method"] for f in failed] == ["totp"]
    assert database(app).session.count_documents({}) == before


def test_a_code_beyond_one_step_of_drift_is_refused(client, enrolled):
    authenticator, _ = enrolled
    for offset in (-2, 2):
        token = password_step(client).json["data"]["mfa_token"]
        answer = code_step(client, {"mfa_token": token, "code": authenticator.code_at(offset)})
        assert answer.json == {"message": "bad_code"}


def test_five_wrong_codes_spend_the_mfa_token(make_app, make_user):
    app = make_app(AUTH_LOGIN_MAX_ATTEMPTS=20)
    client = app.test_client()
    make_user()
    pair = password_step(client).json["data"]
    authenticator, _ = enrol(client, pair["access_token"])
    token = password_step(client).json["data"]["mfa_token"]
    for _ in range(5):
        assert code_step(client, {"mfa_token": token, "code": "12345"}).json == {"message": "bad_code"}
    dead = code_step(client, {"mfa_token": token, "code": authenticator.code()})
    assert (dead.status_code, dead.json["message"]) == (401, "unauthorized")
    assert dead.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_codes_count_toward_the_account_lockout(client, enrolled):
    authenticator, _ = enrolled
    statuses = []
    for _ in range(6):
        token = password_step(client)
        if token.status_code != 200:
            statuses.append(token.status_code)
            continue
        statuses.append(code_step(client, {"mfa_token": token.json["data"]["mfa_token"], "code": "12345"}).status_code)
    assert 429 in statuses
    locked = password_step(client)
    assert locked.status_code == 429 and locked.headers["Retry-After"]


def test_a_successful_two_step_login_gives_its_attempts_back(client, enrolled):
    authenticator, codes = enrolled
    for code in codes[:6]:
        token = password_step(client).json["data"]["mfa_token"]
        assert code_step(client, {"mfa_token": token, "recovery_code": code}).status_code == 200


def test_an_expired_mfa_token_is_refused(app, client, enrolled):
    authenticator, _ = enrolled
    token = password_step(client).json["data"]["mfa_token"]
    past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(seconds=1)
    database(app).auth_mfa_challenge.update_many({}, {"$set": {"expires_at": past}})
    answer = code_step(client, {"mfa_token": token, "code": authenticator.code()})
    assert (answer.status_code, answer.json) == (401, {"message": "unauthorized"})


def test_the_mfa_token_lifetime_is_configurable(make_app, make_user):
    app = make_app(AUTH_MFA_TOKEN_SECONDS=60)
    client = app.test_client()
    make_user()
    enrol(client, password_step(client).json["data"]["access_token"])
    expires_at = password_step(client).json["data"]["expires_at"]
    assert expires_at <= datetime.datetime.now(datetime.timezone.utc).timestamp() + 61


def test_a_recovery_code_signs_in_once(app, client, enrolled):
    _, codes = enrolled
    token = password_step(client).json["data"]["mfa_token"]
    with recorded(signals.recovery_code_used, app) as used:
        answer = code_step(client, {"mfa_token": token, "recovery_code": codes[0]})
    assert answer.status_code == 200
    assert claims(answer.json["data"]["access_token"])["acr"] == "aal2"
    assert [u["remaining"] for u in used] == [9]
    token = password_step(client).json["data"]["mfa_token"]
    spent = code_step(client, {"mfa_token": token, "recovery_code": codes[0]})
    assert (spent.status_code, spent.json) == (400, {"message": "bad_code"})


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        signed_token("access"),
        signed_token("refresh"),
        "x" * 1024,
    ],
)
def test_an_mfa_token_of_another_kind_is_unauthorized(client, enrolled, token):
    authenticator, _ = enrolled
    answer = code_step(client, {"mfa_token": token, "code": authenticator.code()})
    assert (answer.status_code, answer.json) == (401, {"message": "unauthorized"})


def test_the_login_tokens_are_no_mfa_token(client, enrolled, pair):
    authenticator, _ = enrolled
    for token in (pair["access_token"], pair["refresh_token"]):
        answer = code_step(client, {"mfa_token": token, "code": authenticator.code()})
        assert answer.status_code == 401


def test_an_mfa_token_serves_only_its_own_user(client, make_user, enrolled):
    make_user("bob")
    bob = client.post("/admin/login", json={"username": "bob", "password": PASSWORD}).json["data"]
    bob_authenticator, _ = enrol(client, bob["access_token"])
    alice_token = password_step(client).json["data"]["mfa_token"]
    answer = code_step(client, {"mfa_token": alice_token, "code": bob_authenticator.code()})
    assert answer.json == {"message": "bad_code"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"mfa_token": "x"},
        {"code": "123456"},
        {"mfa_token": 1, "code": "123456"},
        {"mfa_token": "x", "code": 123456},
        {"mfa_token": "x", "code": "123456", "recovery_code": "abcd"},
        {"mfa_token": "x", "code": "123456", "extra": 1},
        {"mfa_token": "x", "passkey": "not an object"},
        [],
    ],
)
def test_a_second_step_body_of_the_wrong_shape_is_a_bad_request(client, enrolled, body):
    answer = code_step(client, body)
    assert (answer.status_code, answer.json["message"]) == (400, "bad_request")


def test_a_second_step_body_that_is_no_json_is_a_bad_request(client):
    answer = client.post("/admin/login/mfa", data="{", content_type="application/json")
    assert (answer.status_code, answer.json["message"]) == (400, "bad_request")


def test_a_wrong_password_is_refused_as_before(client, enrolled):
    answer = password_step(client, "wrong password")
    assert (answer.status_code, answer.json) == (400, {"message": "bad_credentials"})


def test_a_user_disabled_between_the_steps_gets_no_session(app, client, enrolled):
    authenticator, _ = enrolled
    token = password_step(client).json["data"]["mfa_token"]
    database(app).user.update_one({"username": "alice"}, {"$set": {"active": False}})
    answer = code_step(client, {"mfa_token": token, "code": authenticator.code()})
    assert answer.status_code == 401


def test_a_password_written_around_the_library_between_the_steps_kills_the_mfa_token(app, client, enrolled):
    from flask_auth_service_mongo.passwords import hash_password

    authenticator, _ = enrolled
    token = password_step(client).json["data"]["mfa_token"]
    database(app).user.update_one({"username": "alice"}, {"$set": {"password": hash_password("raw", 4)}})
    answer = code_step(client, {"mfa_token": token, "code": authenticator.code()})
    assert (answer.status_code, answer.json) == (401, {"message": "unauthorized"})
    assert database(app).auth_mfa_challenge.count_documents({}) == 0


def test_the_second_step_sets_the_cookies(make_app, make_user):
    app = make_app(AUTH_TOKEN_LOCATION="headers,cookies", AUTH_COOKIE_SECURE=False)
    client = app.test_client()
    make_user()
    pair = password_step(client).json["data"]
    authenticator, _ = enrol(client, pair["access_token"])
    client.delete_cookie("access_token")
    token = password_step(client).json["data"]["mfa_token"]
    answer = code_step(client, {"mfa_token": token, "code": authenticator.code()})
    assert answer.status_code == 200 and answer.json["data"]["csrf_token"]
    assert client.get_cookie("access_token").value == answer.json["data"]["access_token"]


# -- step-up --------------------------------------------------------------------


@pytest.fixture
def step_up_app(make_app):
    app = make_app()

    @app.get("/plain/aal2")
    @auth.required(acr="aal2")
    def plain_aal2():
        return jsonify(message="ok")

    @app.get("/plain/aal2-fresh")
    @auth.required(acr="aal2", fresh=60)
    def plain_aal2_fresh():
        return jsonify(message="ok")

    return app


def test_a_password_session_is_refused_where_aal2_is_required(step_up_app, make_user):
    client = step_up_app.test_client()
    make_user()
    token = password_step(client).json["data"]["access_token"]
    answer = client.get("/plain/aal2", headers=bearer(token))
    assert (answer.status_code, answer.json) == (401, {"message": "insufficient_user_authentication"})
    assert answer.headers["WWW-Authenticate"] == ('Bearer error="insufficient_user_authentication", acr_values="aal2"')


def test_a_two_step_session_passes_where_aal2_is_required(step_up_app, make_user):
    client = step_up_app.test_client()
    make_user()
    authenticator, _ = enrol(client, password_step(client).json["data"]["access_token"])
    token = password_step(client).json["data"]["mfa_token"]
    access = code_step(client, {"mfa_token": token, "code": authenticator.code()}).json["data"]["access_token"]
    assert client.get("/plain/aal2", headers=bearer(access)).status_code == 200
    assert client.get("/plain/aal2-fresh", headers=bearer(access)).status_code == 200


def test_enrolling_raises_the_callers_session_to_aal2(step_up_app, make_user):
    client = step_up_app.test_client()
    make_user()
    token = password_step(client).json["data"]["access_token"]
    assert client.get("/plain/aal2", headers=bearer(token)).status_code == 401
    enrol(client, token)
    assert client.get("/plain/aal2", headers=bearer(token)).status_code == 200


def test_an_unknown_acr_is_refused_when_the_route_is_declared():
    with pytest.raises(ValueError, match="acr"):
        auth.required(acr="gold")


def test_reauthenticating_an_enrolled_user_needs_the_code_too(app, client, enrolled):
    authenticator, codes = enrolled
    token = password_step(client).json["data"]["mfa_token"]
    access = code_step(client, {"mfa_token": token, "code": authenticator.code()}).json["data"]["access_token"]
    alone = client.post("/admin/reauthenticate", json={"password": PASSWORD}, headers=bearer(access))
    assert (alone.status_code, alone.json["message"]) == (400, "bad_request")
    assert "code" in alone.json["errors"]
    wrong = client.post("/admin/reauthenticate", json={"password": PASSWORD, "code": "12345"}, headers=bearer(access))
    assert wrong.json == {"message": "bad_code"}
    right = client.post(
        "/admin/reauthenticate", json={"password": PASSWORD, "recovery_code": codes[0]}, headers=bearer(access)
    )
    assert right.status_code == 200, right.json


def test_graphql_middleware_rules_accept_acr(make_app, make_user):
    from flask import Blueprint

    from flask_auth_service_mongo import MutationMiddleware, Roles, schema
    from flask_auth_service_mongo.graphql_view import mount

    app = make_app()
    blueprint = Blueprint("stepped", __name__)
    rules = [{"mutation": "regenerate_recovery_codes", "roles": [Roles.IS_AUTHENTICATED_FULLY], "acr": "aal2"}]
    mount(blueprint, schema.schema, middleware=[MutationMiddleware(rules)])
    app.register_blueprint(blueprint, url_prefix="/stepped")
    client = app.test_client()
    make_user()
    token = password_step(client).json["data"]["access_token"]
    query = "mutation { regenerate_recovery_codes { recovery_codes } }"
    answer = graphql(client, query, token, path="/stepped/graphql").json
    assert answer["errors"][0]["message"] == "insufficient_user_authentication"


# -- AUTH_MFA_REQUIRED_ROLES --------------------------------------------------


@pytest.fixture
def required_app(make_app):
    return make_app(AUTH_MFA_REQUIRED_ROLES="admin")


def test_a_required_user_without_a_factor_is_confined_to_enrolment(required_app, make_user):
    client = required_app.test_client()
    make_user()
    token = password_step(client).json["data"]["access_token"]
    for path in ("/admin/me", "/plain/any", "/admin/sessions"):
        answer = client.get(path, headers=bearer(token))
        assert (answer.status_code, answer.json) == (403, {"message": "mfa_enrolment_required"}), path
    assert graphql(client, "{ me { username } }", token).json["errors"][0]["message"] == "mfa_enrolment_required"
    enrol(client, token)
    assert client.get("/admin/me", headers=bearer(token)).status_code == 200


def test_other_roles_are_not_confined(required_app, make_user):
    client = required_app.test_client()
    make_user(role="viewer")
    token = client.post("/plain/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    assert client.get("/plain/any", headers=bearer(token["access_token"])).status_code == 200

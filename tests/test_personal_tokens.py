"""Personal access tokens: created once, hashed at rest, scoped, listed, revoked."""

from __future__ import annotations

import datetime
import hashlib
import re

import jwt
import pytest
from conftest import PASSWORD, SECRET, bearer, graphql
from flask import jsonify
from freezegun import freeze_time
from test_graphql_update_password import UPDATE

from flask_auth_service_mongo import api_rest, auth
from flask_auth_service_mongo.models import Role, User
from flask_auth_service_mongo.state import get_state

SCOPES = ["read:users", "write:users"]
NEW_PASSWORD = {"current": PASSWORD, "new": "another password", "confirmed": "another password"}
TOKEN_PATTERN = re.compile(r"fasm_pat_[0-9A-Za-z]{43}")


@pytest.fixture
def app(make_app):
    app = make_app()

    @app.get("/scoped/read")
    @auth.required(scope="read:users")
    def scoped_read():
        return jsonify(message="ok", username=auth.current_user().username)

    @app.get("/scoped/either")
    @auth.required(role="admin", scope=["deploy", "write:users"])
    def scoped_either():
        return jsonify(message="ok")

    @app.get("/scoped/fresh")
    @auth.required(scope="read:users", fresh=300)
    def scoped_fresh():
        return jsonify(message="ok")

    @app.post("/scoped/reauthenticate")
    @auth.required(scope="read:users")
    def scoped_reauthenticate():
        return api_rest.reauthenticate()

    @app.get("/scoped/passkeys")
    @auth.required(scope="read:users")
    def scoped_passkeys():
        return api_rest.passkeys()

    @app.post("/scoped/tokens")
    @auth.required(scope="read:users")
    def scoped_create_token():
        return api_rest.create_token()

    return app


@pytest.fixture
def alice(app, make_user):
    Role(name="admin", permissions={"scopes": SCOPES}).save()
    return make_user()


@pytest.fixture
def session_token(alice, login):
    return login()["token"]


@pytest.fixture
def create(client, session_token):
    """POST /admin/tokens as alice's session; returns the response."""

    def do(name="ci", scopes=("read:users",), days=30, token=None, **body):
        payload = {"name": name, "scopes": list(scopes), "expires_in_days": days, **body}
        return client.post("/admin/tokens", json=payload, headers=bearer(token or session_token))

    return do


@pytest.fixture
def pat(create):
    response = create()
    assert response.status_code == 201, response.json
    return response.json["data"]["token"]


def stored_tokens(app) -> list[dict]:
    with app.app_context():
        return list(get_state().store.sessions.find({"kind": "pat"}))


# -- creation ---------------------------------------------------------------------


def test_a_created_token_is_shown_once_and_stored_as_its_sha256_digest(app, create):
    response = create(name="deploy bot", scopes=SCOPES, days=7)
    assert response.status_code == 201
    body = response.json
    assert body["message"] == "ok"
    data = body["data"]
    assert TOKEN_PATTERN.fullmatch(data["token"])
    assert set(data) == {"id", "token", "name", "scopes", "created_at", "last_used_at", "expires_at"}
    assert (data["name"], data["scopes"], data["last_used_at"]) == ("deploy bot", SCOPES, None)
    (stored,) = stored_tokens(app)
    digest = hashlib.sha256(data["token"].encode()).hexdigest()
    assert stored["_id"] == digest
    assert data["id"] == digest[:16]
    assert data["token"] not in repr(stored)
    created = datetime.datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))
    expires = datetime.datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
    assert expires - created == datetime.timedelta(days=7)


def test_two_tokens_are_different(create):
    first, second = create().json["data"], create().json["data"]
    assert first["token"] != second["token"] and first["id"] != second["id"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"scopes": ["read:users"], "expires_in_days": 30}, "name"),
        ({"name": "", "scopes": ["read:users"], "expires_in_days": 30}, "name"),
        ({"name": "x" * 101, "scopes": ["read:users"], "expires_in_days": 30}, "name"),
        ({"name": "a\nb", "scopes": ["read:users"], "expires_in_days": 30}, "name"),
        ({"name": 5, "scopes": ["read:users"], "expires_in_days": 30}, "name"),
        ({"name": "ci", "expires_in_days": 30}, "scopes"),
        ({"name": "ci", "scopes": [], "expires_in_days": 30}, "scopes"),
        ({"name": "ci", "scopes": "read:users", "expires_in_days": 30}, "scopes"),
        ({"name": "ci", "scopes": ["read:users", "read:users"], "expires_in_days": 30}, "scopes"),
        ({"name": "ci", "scopes": ["Read Users"], "expires_in_days": 30}, "scopes"),
        ({"name": "ci", "scopes": [7], "expires_in_days": 30}, "scopes"),
        ({"name": "ci", "scopes": ["admin:everything"], "expires_in_days": 30}, "scopes"),
        ({"name": "ci", "scopes": ["read:users"] * 40, "expires_in_days": 30}, "scopes"),
        ({"name": "ci", "scopes": ["read:users"]}, "expires_in_days"),
        ({"name": "ci", "scopes": ["read:users"], "expires_in_days": 0}, "expires_in_days"),
        ({"name": "ci", "scopes": ["read:users"], "expires_in_days": -3}, "expires_in_days"),
        ({"name": "ci", "scopes": ["read:users"], "expires_in_days": 366}, "expires_in_days"),
        ({"name": "ci", "scopes": ["read:users"], "expires_in_days": 1.5}, "expires_in_days"),
        ({"name": "ci", "scopes": ["read:users"], "expires_in_days": True}, "expires_in_days"),
        ({"name": "ci", "scopes": ["read:users"], "expires_in_days": "30"}, "expires_in_days"),
        ({"name": "ci", "scopes": ["read:users"], "expires_in_days": 30, "admin": True}, "admin"),
    ],
)
def test_bad_creation_bodies_answer_400_naming_the_field(app, client, session_token, body, field):
    response = client.post("/admin/tokens", json=body, headers=bearer(session_token))
    assert response.status_code == 400
    assert response.json["message"] == "bad_request"
    assert field in response.json["errors"]
    assert stored_tokens(app) == []


def test_a_body_that_is_not_json_is_a_400(client, session_token):
    response = client.post("/admin/tokens", data="{", content_type="application/json", headers=bearer(session_token))
    assert (response.status_code, response.json["message"]) == (400, "bad_request")


def test_the_maximum_lifetime_is_configurable(make_app, make_user, login):
    app = make_app(AUTH_PERSONAL_TOKEN_MAX_DAYS=10)
    Role(name="admin", permissions={"scopes": SCOPES}).save()
    make_user()
    client = app.test_client()
    token = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    body = {"name": "ci", "scopes": ["read:users"]}
    assert client.post("/admin/tokens", json={**body, "expires_in_days": 11}, headers=bearer(token)).status_code == 400
    assert client.post("/admin/tokens", json={**body, "expires_in_days": 10}, headers=bearer(token)).status_code == 201


def test_creating_a_token_needs_a_fresh_login(client, create, session_token):
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=6)
    with freeze_time(later):
        response = create()
        assert (response.status_code, response.json["message"]) == (401, "fresh_login_required")
        assert (
            client.post("/admin/reauthenticate", json={"password": PASSWORD}, headers=bearer(session_token)).status_code
            == 200
        )
        assert create().status_code == 201


def test_a_token_cannot_create_tokens(app, create, pat):
    response = create(token=pat)
    assert response.status_code == 403
    assert len(stored_tokens(app)) == 1


# -- using a token ----------------------------------------------------------------


def test_a_token_authenticates_a_route_asking_for_one_of_its_scopes(client, pat):
    response = client.get("/scoped/read", headers=bearer(pat))
    assert (response.status_code, response.json) == (200, {"message": "ok", "username": "alice"})


def test_a_token_is_refused_without_the_routes_scope(client, pat):
    response = client.get("/scoped/either", headers=bearer(pat))
    assert (response.status_code, response.json["message"]) == (403, "insufficient_scope")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_a_list_of_scopes_admits_a_token_holding_any_of_them(client, create):
    token = create(scopes=["write:users"]).json["data"]["token"]
    assert client.get("/scoped/either", headers=bearer(token)).status_code == 200


def test_a_route_that_names_no_scope_refuses_tokens(client, pat):
    for path in ("/plain/any", "/admin/me"):
        response = client.get(path, headers=bearer(pat))
        assert (response.status_code, response.json["message"]) == (403, "insufficient_scope")


def test_a_token_never_passes_a_freshness_requirement(client, pat):
    response = client.get("/scoped/fresh", headers=bearer(pat))
    assert (response.status_code, response.json["message"]) == (403, "forbidden")


def test_a_session_holds_every_scope_of_its_role(client, session_token):
    assert client.get("/scoped/read", headers=bearer(session_token)).status_code == 200
    assert client.get("/scoped/either", headers=bearer(session_token)).status_code == 200


def test_a_session_whose_role_lacks_the_scope_is_refused(client, make_user, login):
    Role(name="admin", permissions={"scopes": ["deploy"]}).save()
    make_user()
    token = login()["token"]
    assert client.get("/scoped/either", headers=bearer(token)).status_code == 200
    response = client.get("/scoped/read", headers=bearer(token))
    assert (response.status_code, response.json["message"]) == (403, "insufficient_scope")


def test_a_scope_taken_from_the_role_is_taken_from_its_tokens(client, pat):
    role = Role.objects.get(name="admin")
    role.permissions = {"scopes": ["write:users"]}
    role.save()
    response = client.get("/scoped/read", headers=bearer(pat))
    assert (response.status_code, response.json["message"]) == (403, "insufficient_scope")


def test_the_account_endpoints_refuse_a_token(app, client, pat):
    assert client.post("/scoped/reauthenticate", json={"password": PASSWORD}, headers=bearer(pat)).status_code == 403
    assert client.get("/scoped/passkeys", headers=bearer(pat)).status_code == 403
    body = {"name": "ci", "scopes": ["read:users"], "expires_in_days": 1}
    assert client.post("/scoped/tokens", json=body, headers=bearer(pat)).status_code == 403
    for method, path in [("get", "/admin/tokens"), ("get", "/admin/sessions"), ("post", "/admin/logout-all")]:
        assert getattr(client, method)(path, headers=bearer(pat)).status_code == 403
    answer = graphql(client, UPDATE, pat, NEW_PASSWORD)
    assert answer.json["errors"][0]["message"] == "insufficient_scope"
    assert client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).status_code == 200


def test_last_use_is_written_at_most_once_per_interval(app, client, pat):
    (stored,) = stored_tokens(app)
    assert stored["last_used_at"] is None
    client.get("/scoped/read", headers=bearer(pat))
    (first,) = stored_tokens(app)
    assert first["last_used_at"] is not None
    client.get("/scoped/read", headers=bearer(pat))
    assert stored_tokens(app)[0]["last_used_at"] == first["last_used_at"]
    with freeze_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=90)):
        client.get("/scoped/read", headers=bearer(pat))
        assert stored_tokens(app)[0]["last_used_at"] > first["last_used_at"]


# -- bad tokens -------------------------------------------------------------------


def flipped(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda t: "fasm_pot_" + t[9:], "invalid_token"),
        (lambda t: t[:-1], "invalid_token"),
        (lambda t: t + "0", "invalid_token"),
        (lambda t: t[:-1] + "_", "invalid_token"),
        (lambda t: t[:-1] + "é", "invalid_token"),
        (lambda t: "fasm_pat_" + "z" * 43, "invalid_token"),  # more than 32 bytes
        (flipped, "unauthorized"),
        (lambda t: hashlib.sha256(t.encode()).hexdigest(), "invalid_token"),
    ],
)
def test_a_mangled_token_is_a_clean_401(client, pat, mangle, message):
    response = client.get("/scoped/read", headers=bearer(mangle(pat)))
    assert (response.status_code, response.json["message"]) == (401, message)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(client, pat):
    with freeze_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=31)):
        response = client.get("/scoped/read", headers=bearer(pat))
    assert (response.status_code, response.json["message"]) == (401, "unauthorized")


def test_an_access_token_naming_a_token_record_as_its_session_is_refused(app, client, session_token, pat):
    (stored,) = stored_tokens(app)
    claims = jwt.decode(session_token, SECRET, algorithms=["HS256"])
    claims["sid"] = stored["_id"]  # a well-signed token whose "session" is alice's personal access token
    forged = jwt.encode(claims, SECRET, algorithm="HS256")
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 200
    for path in ("/scoped/read", "/admin/users"):
        response = client.get(path, headers=bearer(forged))
        assert (response.status_code, response.json["message"]) == (401, "unauthorized")


def test_a_token_in_the_access_cookie_is_refused(make_app, alice, login):
    app = make_app(AUTH_TOKEN_LOCATION="headers,cookies")
    client = app.test_client()
    token = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    body = {"name": "ci", "scopes": ["read:users"], "expires_in_days": 1}
    pat = client.post("/admin/tokens", json=body, headers=bearer(token)).json["data"]["token"]
    client.delete_cookie("access_token")
    client.set_cookie("access_token", pat)
    assert client.get("/admin/users", headers=bearer(pat)).status_code == 200
    response = client.get("/admin/users")
    assert (response.status_code, response.get_json()) == (401, {"message": "invalid_token"})


# -- listing and revoking ---------------------------------------------------------


def test_the_list_shows_the_callers_tokens_newest_first_without_the_token(client, create, session_token, make_user):
    first = create(name="first").json["data"]
    with freeze_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)):
        second = create(name="second", scopes=SCOPES).json["data"]
    response = client.get("/admin/tokens", headers=bearer(session_token))
    assert response.status_code == 200
    listed = response.json["data"]
    assert [t["name"] for t in listed] == ["second", "first"]
    assert listed[0] == {k: v for k, v in second.items() if k != "token"}
    assert first["token"] not in response.text and second["token"] not in response.text
    sessions = client.get("/admin/sessions", headers=bearer(session_token)).json["data"]
    assert len(sessions) == 1  # tokens are not sessions


def test_revoking_a_token_ends_it_at_once(client, session_token, pat, create):
    other = create(name="other").json["data"]
    token_id = client.get("/admin/tokens", headers=bearer(session_token)).json["data"][1]["id"]
    response = client.delete(f"/admin/tokens/{token_id}", headers=bearer(session_token))
    assert (response.status_code, response.json) == (200, {"message": "ok"})
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 401
    assert client.get("/scoped/read", headers=bearer(other["token"])).status_code == 200
    again = client.delete(f"/admin/tokens/{token_id}", headers=bearer(session_token))
    assert (again.status_code, again.json["message"]) == (404, "not_found")


@pytest.mark.parametrize("token_id", ["0" * 16, "zzzz", "0" * 64, "x" * 2000])
def test_revoking_an_unknown_id_is_a_404(client, session_token, pat, token_id):
    response = client.delete(f"/admin/tokens/{token_id}", headers=bearer(session_token))
    assert (response.status_code, response.json["message"]) == (404, "not_found")
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 200


def test_nobody_revokes_anothers_token(client, pat, session_token, make_user, login):
    make_user(username="bob")
    bobs = login(username="bob")["token"]
    token_id = client.get("/admin/tokens", headers=bearer(session_token)).json["data"][0]["id"]
    assert client.get("/admin/tokens", headers=bearer(bobs)).json["data"] == []
    assert client.delete(f"/admin/tokens/{token_id}", headers=bearer(bobs)).status_code == 404
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 200


def test_revoking_sends_sessions_ended_with_reason_token_revoked(app, client, session_token, pat):
    from flask_auth_service_mongo import signals

    token_id = client.get("/admin/tokens", headers=bearer(session_token)).json["data"][0]["id"]
    with signals.sessions_ended.connected_to(lambda sender, **kw: seen.append(kw), sender=app):
        seen: list = []
        client.delete(f"/admin/tokens/{token_id}", headers=bearer(session_token))
    assert [(event["reason"], event["session_ids"]) for event in seen] == [("token_revoked", [token_id])]


# -- what ends tokens -------------------------------------------------------------


def test_deactivating_the_user_ends_the_tokens(client, pat):
    user = User.objects.get(username="alice")
    user.active = False
    user.save()
    user.active = True
    user.save()
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 401


def test_deactivating_the_user_around_the_models_refuses_the_tokens(app, client, pat):
    User.objects(username="alice").update(set__active=False)
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 401


def test_deleting_the_user_ends_the_tokens(app, client, pat):
    User.objects.get(username="alice").delete()
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 401
    assert stored_tokens(app) == []


def test_an_admin_password_reset_ends_the_tokens(app, client, pat):
    user = User.objects.get(username="alice")
    from flask_auth_service_mongo.passwords import hash_password

    user.password = hash_password("a reset password", 4)
    user.save()
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 401
    assert stored_tokens(app) == []


def test_the_users_own_password_change_keeps_the_tokens(client, session_token, pat):
    answer = graphql(client, UPDATE, session_token, NEW_PASSWORD)
    assert answer.json["data"]["update_password"]["ok"] is True
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 200


def test_logout_everywhere_keeps_the_tokens(client, session_token, pat):
    assert client.post("/admin/logout-all", headers=bearer(session_token)).status_code == 200
    assert client.get("/scoped/read", headers=bearer(session_token)).status_code == 401
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 200


def test_a_user_keeps_at_most_100_live_tokens(create):
    for number in range(100):
        assert create(name=f"t{number}").status_code == 201
    response = create(name="one too many")
    assert response.status_code == 400
    assert "name" not in response.json["errors"]


# -- the command line -------------------------------------------------------------


def test_token_new_prints_a_working_token_once(app, client, alice):
    result = app.test_cli_runner().invoke(
        args=["auth_mongo", "token-new", "-u", "ALICE", "-n", "nightly", "-s", "read:users", "--days", "3"]
    )
    assert result.exit_code == 0, result.output
    tokens = TOKEN_PATTERN.findall(result.output)
    assert len(tokens) == 1
    assert client.get("/scoped/read", headers=bearer(tokens[0])).status_code == 200
    (stored,) = stored_tokens(app)
    assert stored["name"] == "nightly" and stored["scopes"] == ["read:users"]
    assert stored["expires_at"] - stored["created_at"] == datetime.timedelta(days=3)


@pytest.mark.parametrize(
    "args, reason",
    [
        (["-u", "nobody", "-n", "x", "-s", "read:users"], "does not exist"),
        (["-u", "alice", "-n", "x", "-s", "admin:all"], "not granted"),
        (["-u", "alice", "-n", "x", "-s", "read:users", "-s", "read:users"], "duplicate"),
        (["-u", "alice", "-n", "x", "-s", "read:users", "--days", "0"], "between 1 and"),
        (["-u", "alice", "-n", "", "-s", "read:users"], "name"),
    ],
)
def test_token_new_errors_exit_non_zero_with_a_reason(app, alice, args, reason):
    result = app.test_cli_runner().invoke(args=["auth_mongo", "token-new", *args])
    assert result.exit_code != 0
    assert reason in result.output
    assert "Traceback" not in result.output
    assert stored_tokens(app) == []


def test_events_name_a_token_by_its_id_never_by_its_digest(app, client, session_token, pat):
    token_id = client.get("/admin/tokens", headers=bearer(session_token)).json["data"][0]["id"]
    client.delete(f"/admin/tokens/{token_id}", headers=bearer(session_token))
    user = User.objects.get(username="alice")
    user.active = False
    user.save()
    user.active = True
    user.save()
    session = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    events = client.get("/admin/events", headers=bearer(session))
    assert events.status_code == 200
    revoked = [e for e in events.json["data"] if e.get("reason") == "token_revoked"]
    assert [e["session_id"] for e in revoked] == [token_id]
    assert hashlib.sha256(pat.encode()).hexdigest() not in events.text and pat not in events.text


def test_swagger_documents_the_scope_of_an_operation(client):
    document = client.get("/admin/swagger.json").json
    refusal = document["paths"]["/users"]["get"]["responses"]["403"]["description"]
    assert "insufficient_scope" in refusal and "read:users" in refusal and "forbidden" in refusal
    assert "fasm_pat_" in document["securityDefinitions"]["Bearer"]["description"]


@pytest.mark.parametrize("scope", ["", [], "Read Users", ["read:users", 3]])
def test_a_route_naming_an_invalid_scope_fails_when_it_is_declared(scope):
    with pytest.raises(ValueError, match="scope"):
        auth.required(scope=scope)


def test_an_admin_reset_through_graphql_ends_a_service_accounts_tokens(app, client, session_token, make_user):
    from test_graphql_accounts import RESET

    Role(name="service", permissions={"scopes": ["read:users"]}).save()
    bot = make_user(username="ci-bot", role="service")
    result = app.test_cli_runner().invoke(
        args=["auth_mongo", "token-new", "-u", "ci-bot", "-n", "n", "-s", "read:users"]
    )
    (token,) = TOKEN_PATTERN.findall(result.output)
    assert client.get("/scoped/read", headers=bearer(token)).status_code == 200
    answer = graphql(client, RESET, session_token, {"id": str(bot.pk)})
    assert answer.json["data"]["reset_password"]["password"]
    assert client.get("/scoped/read", headers=bearer(token)).status_code == 401
    assert stored_tokens(app) == []


def test_a_password_written_around_the_models_ends_the_tokens(app, client, pat):
    from flask_auth_service_mongo.passwords import hash_password

    User._get_collection().update_one({"username": "alice"}, {"$set": {"password": hash_password("raw", 4)}})
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 401
    assert stored_tokens(app) == []


def test_after_the_users_own_password_change_a_raw_password_write_still_ends_the_tokens(
    app, client, session_token, pat
):
    from flask_auth_service_mongo.passwords import hash_password
    from flask_auth_service_mongo.store import password_stamp

    assert graphql(client, UPDATE, session_token, NEW_PASSWORD).json["data"]["update_password"]["ok"] is True
    (stored,) = stored_tokens(app)
    assert password_stamp(User.objects.get(username="alice").password) in stored["password_stamps"]
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 200
    User._get_collection().update_one({"username": "alice"}, {"$set": {"password": hash_password("raw", 4)}})
    assert client.get("/scoped/read", headers=bearer(pat)).status_code == 401
    assert stored_tokens(app) == []

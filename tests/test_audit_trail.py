"""The audit trail: every signal kept in ``auth_event``, read back by the
user (REST), by admins (GraphQL) and on the command line; never a secret."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import PASSWORD, bearer, graphql
from flask import jsonify

from flask_auth_service_mongo import event_writer, signals
from flask_auth_service_mongo.events import collection

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
NEW_PASSWORD = "a brand new secret"
UPDATE_PASSWORD = """mutation ($input: UpdatePasswordInput!) { update_password(input: $input) { ok } }"""
EVENTS = """query ($username: String, $kind: String, $since: DateTime, $limit: Int, $offset: Int) {
  events(username: $username, kind: $kind, since: $since, limit: $limit, offset: $offset) {
    id time kind user_id username session_id session_ids ip user_agent reason details
  }
}"""


def stored(app, **query):
    """The stored events (queued writes first), oldest first."""
    event_writer.flush()
    with app.app_context():
        return list(collection().find(query).sort([("time", 1), ("_id", 1)]))


def kinds(app, **query):
    return [(event["kind"], event.get("reason")) for event in stored(app, **query)]


def test_a_login_is_stored_with_its_session_ip_and_user_agent(app, client, alice, login):
    data = login(headers={"User-Agent": FIREFOX})
    [event] = stored(app)
    assert event["kind"] == "user_logged_in"
    assert event["user"] == alice.pk
    assert event["ip"] == "127.0.0.1"
    assert event["user_agent"] == FIREFOX
    session = client.get("/admin/sessions", headers=bearer(data["token"])).json["data"][0]
    assert event["session_id"] == session["id"]
    assert event["expires_at"] - event["time"] == timedelta(days=90)


def test_a_failed_login_on_an_account_is_that_accounts_event(app, client, alice):
    answer = client.post("/admin/login", json={"username": "ALICE", "password": "not it"})
    unknown = client.post("/admin/login", json={"username": "nobody", "password": "not it"})
    assert answer.status_code == unknown.status_code == 400
    assert answer.json == unknown.json == {"message": "bad_credentials"}
    first, second = stored(app)
    assert (first["kind"], first["reason"], first["user"]) == ("login_failed", "bad_credentials", alice.pk)
    assert (second["kind"], second["reason"], second["user"]) == ("login_failed", "bad_credentials", None)
    assert "nobody" not in json.dumps([first, second], default=str)


def test_a_lockout_is_stored(make_app, make_user):
    app = make_app(AUTH_LOGIN_MAX_ATTEMPTS=2)
    client = app.test_client()
    with app.app_context():
        user = make_user()
    for _ in range(3):
        client.post("/admin/login", json={"username": "alice", "password": "wrong"})
    assert kinds(app, user=user.pk) == [("login_failed", "bad_credentials")] * 2 + [("login_failed", "locked_out")]


def every_flow(app, client, make_user, login):
    """Log in, fail, get locked out, refresh, replay, revoke, change the
    password, log out, log out everywhere, reset a password; every secret seen."""
    secrets = [PASSWORD, NEW_PASSWORD, "wrong password 1"]
    make_user()
    make_user("bob", role="user")
    make_user("carol", role="user")
    carol = login(username="carol", path="/plain/login")
    secrets += [carol["token"], carol["refresh_token"]]
    client.post("/admin/login", json={"username": "alice", "password": "wrong password 1"})
    for _ in range(6):
        client.post("/admin/login", json={"username": "bob", "password": "wrong password 1"})
    first, second, third = login(), login(), login()
    for data in (first, second, third):
        secrets += [data["token"], data["refresh_token"]]
    refreshed = client.post("/admin/refresh", json={"refresh_token": first["refresh_token"]}).json["data"]
    secrets += [refreshed["token"], refreshed["refresh_token"]]
    assert client.post("/admin/refresh", json={"refresh_token": first["refresh_token"]}).status_code == 401
    sid = [s for s in client.get("/admin/sessions", headers=bearer(third["token"])).json["data"] if not s["current"]]
    client.delete(f"/admin/sessions/{sid[0]['id']}", headers=bearer(third["token"]))
    secrets.append(login()["token"])  # ended by the password change
    variables = {
        "input": {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "password_confirmed": NEW_PASSWORD}
    }
    assert graphql(client, UPDATE_PASSWORD, third["token"], variables).json["data"]["update_password"]["ok"]
    client.post("/admin/logout", headers=bearer(third["token"]))
    fourth = login(password=NEW_PASSWORD)
    secrets += [fourth["token"], fourth["refresh_token"]]
    cookies = client.post(
        "/admin/login", json={"username": "alice", "password": NEW_PASSWORD}, headers={"User-Agent": FIREFOX}
    )
    assert cookies.status_code == 200
    client.post("/admin/logout-all", headers=bearer(fourth["token"]))
    admin = login(password=NEW_PASSWORD)
    secrets += [admin["token"], admin["refresh_token"]]
    users = graphql(client, "{ users { id username } }", admin["token"]).json["data"]["users"]
    carol_id = next(u["id"] for u in users if u["username"] == "carol")
    client.post("/admin/reauthenticate", json={"password": NEW_PASSWORD}, headers=bearer(admin["token"]))
    mutation = "mutation ($id: ID!) { reset_password(input: {id: $id}) { password } }"
    reset = graphql(client, mutation, admin["token"], {"id": carol_id})
    secrets.append(reset.json["data"]["reset_password"]["password"])
    return secrets


def test_every_flow_leaves_its_events_and_no_secret(make_app, make_user):
    app = make_app(AUTH_TOKEN_LOCATION="headers,cookies", AUTH_COOKIE_SECURE=False)
    client = app.test_client()
    with app.app_context():
        secrets = every_flow(app, client, make_user, lambda **kw: login_data(client, **kw))
    secrets += [cookie.value for cookie in client._cookies.values()]
    events = stored(app)
    found = {(event["kind"], event.get("reason")) for event in events}
    assert found >= {
        ("user_logged_in", None),
        ("login_failed", "bad_credentials"),
        ("login_failed", "locked_out"),
        ("sessions_ended", "refresh_reuse"),
        ("sessions_ended", "revoked"),
        ("sessions_ended", "password_changed"),
        ("password_changed", None),
        ("user_logged_out", None),
        ("sessions_ended", "logout_all"),
        ("sessions_ended", "password_reset"),
    }
    text = json.dumps(events, default=str)
    for secret in secrets:
        assert len(secret) >= 8 and secret not in text
    for event in events:
        assert set(event) <= {
            "_id",
            "time",
            "kind",
            "user",
            "session_id",
            "session_ids",
            "ip",
            "user_agent",
            "reason",
            "expires_at",
            "details",
        }


def login_data(client, username="alice", password=PASSWORD, path="/admin/login"):
    response = client.post(path, json={"username": username, "password": password})
    assert response.status_code == 200, response.json
    return response.json["data"]


def test_other_arguments_are_kept_in_details_but_secrets_are_not(app, alice):
    with app.test_request_context(headers={"User-Agent": FIREFOX}):
        signals.send(
            signals.user_logged_in,
            user=alice,
            session_id="s1",
            method="totp",
            remaining=3,
            token_id="abc",
            otp_code="123456",
            recovery_code="abcd-efgh",
            secret="base32secret",
            note="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
            api_key="k",
            password_hash="$2b$04$x",
        )
    [event] = stored(app)
    assert event["details"] == {"method": "totp", "remaining": 3, "token_id": "abc"}
    assert event["session_id"] == "s1"


def test_no_event_is_kept_with_a_retention_of_zero(make_app, make_user):
    app = make_app(AUTH_AUDIT_RETENTION_DAYS=0)
    with app.app_context():
        make_user()
    app.test_client().post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert stored(app) == []


def test_the_collection_has_a_ttl_index_on_the_expiry(app):
    with app.app_context():
        indexes = collection().index_information()
    ttl = [index for index in indexes.values() if "expireAfterSeconds" in index]
    assert [(index["key"], index["expireAfterSeconds"]) for index in ttl] == [([("expires_at", 1)], 0)]


# -- the user's own listing (REST) ---------------------------------------------


def test_a_user_lists_their_own_events_newest_first(client, make_user, login):
    make_user()
    make_user("bob")
    bob = login("bob")
    client.post("/admin/login", json={"username": "alice", "password": "nope"})
    alice = login(headers={"User-Agent": FIREFOX})
    answer = client.get("/admin/events", headers=bearer(alice["token"]))
    assert answer.status_code == 200
    data = answer.json["data"]
    assert [(e["kind"], e["reason"]) for e in data] == [("user_logged_in", None), ("login_failed", "bad_credentials")]
    assert data[0]["user_agent"] == FIREFOX and data[0]["current_session"] is True
    assert data[0]["ip"] == "127.0.0.1" and data[0]["time"].endswith("Z")
    assert answer.json["next"] is None
    assert [e["kind"] for e in client.get("/admin/events", headers=bearer(bob["token"])).json["data"]] == [
        "user_logged_in"
    ]


def test_the_listing_pages_by_offset_and_by_cursor(client, alice, login):
    for _ in range(4):
        token = login()["token"]
    everything = client.get("/admin/events", headers=bearer(token)).json["data"]
    assert len(everything) == 4
    page = client.get("/admin/events?limit=2", headers=bearer(token)).json
    assert [e["id"] for e in page["data"]] == [e["id"] for e in everything[:2]]
    assert page["next"] == everything[1]["id"]
    after = client.get(f"/admin/events?limit=2&before={page['next']}", headers=bearer(token)).json
    assert [e["id"] for e in after["data"]] == [e["id"] for e in everything[2:]]
    skipped = client.get("/admin/events?limit=3&offset=3", headers=bearer(token)).json
    assert [e["id"] for e in skipped["data"]] == [everything[3]["id"]] and skipped["next"] is None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "limit=abc", "offset=-1", "offset=1.5", "before=nope", "limit=%00"]
)
def test_bad_paging_values_answer_400(client, pair, query):
    answer = client.get(f"/admin/events?{query}", headers=bearer(pair["token"]))
    assert answer.status_code == 400
    assert answer.json["message"] == "bad_request"
    assert set(answer.json["errors"]) <= {"limit", "offset", "before"}


def test_the_listing_is_guarded(client, make_app):
    assert client.get("/admin/events").status_code == 401


def test_security_events_serves_a_plain_flask_view(make_app, make_user):
    from flask_auth_service_mongo import api_rest, auth

    app = make_app()

    @app.get("/plain/events")
    @auth.required()
    def plain_events():
        body, status = api_rest.security_events()
        return jsonify(body), status

    client = app.test_client()
    with app.app_context():
        make_user()
    token = login_data(client)["token"]
    assert client.get("/plain/events", headers=bearer(token)).json["data"][0]["kind"] == "user_logged_in"


# -- admins (GraphQL) and the command line ------------------------------------


def test_admins_read_anyones_events_through_graphql(client, make_user, login):
    make_user()
    bob = make_user("bob", role="user")
    client.post("/admin/login", json={"username": "bob", "password": "not it"})
    token = login()["token"]
    answer = graphql(client, EVENTS, token, {"username": "bob"}).json
    assert "errors" not in answer
    [event] = answer["data"]["events"]
    assert (event["kind"], event["reason"], event["username"], event["user_id"]) == (
        "login_failed",
        "bad_credentials",
        "bob",
        str(bob.pk),
    )
    everyone = graphql(client, EVENTS, token, {"kind": "user_logged_in", "limit": 0}).json["data"]["events"]
    assert [e["username"] for e in everyone] == ["alice"]
    assert graphql(client, EVENTS, token, {"since": "2999-01-01T00:00:00Z"}).json["data"]["events"] == []
    unknown = graphql(client, EVENTS, token, {"username": "nobody"}).json
    assert unknown["errors"][0]["message"] == "user_not_found"


def test_graphql_events_are_for_admins_only(client, make_user):
    make_user("bob", role="user")
    token = login_data(client, "bob", path="/plain/login")["token"]
    for variables in ({}, {"username": "nobody"}):
        answer = graphql(client, EVENTS, token, variables).json
        assert answer["errors"][0]["message"] == "forbidden"


def test_the_cli_lists_events_by_user_kind_and_time(app, client, make_user, login):
    make_user()
    make_user("bob")
    client.post("/admin/login", json={"username": "bob", "password": "not it"}, headers={"User-Agent": FIREFOX})
    login()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["auth_mongo", "events"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "user_logged_in  alice" in lines[0]
    assert "login_failed  bob  reason=bad_credentials" in lines[1] and json.dumps(FIREFOX) in lines[1]
    only_bob = runner.invoke(args=["auth_mongo", "events", "-u", "BOB"]).output.splitlines()
    assert len(only_bob) == 1 and "login_failed" in only_bob[0]
    logins = runner.invoke(args=["auth_mongo", "events", "--kind", "user_logged_in"]).output.splitlines()
    assert len(logins) == 1 and "alice" in logins[0]
    assert runner.invoke(args=["auth_mongo", "events", "--since", "2999-01-01T00:00:00Z"]).output == ""
    assert len(runner.invoke(args=["auth_mongo", "events", "--since", "2000-01-01"]).output.splitlines()) == 2


@pytest.mark.parametrize(
    "args, reason",
    [
        (["--since", "yesterday"], "--since must be an ISO 8601 time"),
        (["-u", "nobody"], "user 'nobody' does not exist"),
        (["--limit", "0"], "--limit must be between 1 and 500"),
    ],
)
def test_the_cli_refuses_bad_options_in_one_line(app, args, reason):
    result = app.test_cli_runner().invoke(args=["auth_mongo", "events", *args])
    assert result.exit_code != 0
    assert reason in result.output and "Traceback" not in result.output

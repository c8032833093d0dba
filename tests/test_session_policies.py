"""Session policies: idle timeout, a cap on sessions per user, fresh login."""

import datetime

import pytest
from conftest import PASSWORD, bearer, graphql
from freezegun import freeze_time

from flask_auth_service_mongo import AuthService, auth
from flask_auth_service_mongo.errors import ConfigError
from flask_auth_service_mongo.models import Session

START = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def at(minutes):
    """The clock, ``minutes`` after the start of the test."""
    return freeze_time(START + datetime.timedelta(minutes=minutes))


def refresh(client, token):
    return client.post("/admin/refresh", json={"refresh_token": token})


@pytest.fixture
def idle_client(make_app, make_user):
    make_user()
    return make_app(AUTH_SESSION_IDLE_MINUTES=30).test_client()


def log_in(client, username="alice", password=PASSWORD):
    response = client.post("/admin/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.json
    return response.json["data"]


def test_a_session_unused_for_the_idle_time_ends_at_its_next_request(idle_client):
    with at(0):
        pair = log_in(idle_client)
    with at(31):
        response = idle_client.get("/admin/me", headers=bearer(pair["token"]))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})
    assert Session.objects.count() == 0


def test_each_use_keeps_an_idle_limited_session_alive(idle_client):
    with at(0):
        pair = log_in(idle_client)
    for minute in (20, 45):
        with at(minute):
            assert idle_client.get("/admin/me", headers=bearer(pair["token"])).status_code == 200
    with at(45 + 31):
        assert refresh(idle_client, pair["refresh_token"]).status_code == 401


def test_a_refresh_of_an_idle_session_is_refused_and_ends_it(idle_client):
    with at(0):
        pair = log_in(idle_client)
    with at(31):
        response = refresh(idle_client, pair["refresh_token"])
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})
    assert Session.objects.count() == 0


def test_idle_sessions_are_not_listed(idle_client):
    with at(0):
        first = log_in(idle_client)
    with at(20):
        second = log_in(idle_client)
    with at(35):
        listed = idle_client.get("/admin/sessions", headers=bearer(second["token"])).json["data"]
    assert [item["current"] for item in listed] == [True]
    assert first["refresh_token"] != second["refresh_token"]


def test_without_an_idle_time_a_session_lives_until_it_expires(client, pair):
    with at(24 * 60):
        assert refresh(client, pair["refresh_token"]).status_code == 200


def test_the_idle_time_must_cover_two_last_use_intervals(make_app):
    with pytest.raises(ConfigError, match="AUTH_SESSION_IDLE_MINUTES must be at least twice"):
        make_app(AUTH_SESSION_IDLE_MINUTES=1)
    make_app(AUTH_SESSION_IDLE_MINUTES=1, AUTH_LAST_USED_INTERVAL_SECONDS=30)


@pytest.mark.parametrize("value", [-1, "many", True])
def test_a_bad_session_limit_is_refused_at_start_up(value):
    from flask import Flask

    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="s" * 48, MONGODB_URI="mongomock://localhost/x")
    app.config["AUTH_MAX_SESSIONS_PER_USER"] = value
    with pytest.raises(ConfigError, match="AUTH_MAX_SESSIONS_PER_USER"):
        AuthService(app)


def test_a_login_beyond_the_session_limit_ends_the_least_recently_used(make_app, make_user):
    make_user()
    client = make_app(AUTH_MAX_SESSIONS_PER_USER=2).test_client()
    with at(0):
        first, second = log_in(client), log_in(client)
    with at(2):
        assert client.get("/admin/me", headers=bearer(first["token"])).status_code == 200
    with at(3):
        third = log_in(client)
        assert client.get("/admin/me", headers=bearer(second["token"])).status_code == 401
        for kept in (first, third):
            assert client.get("/admin/me", headers=bearer(kept["token"])).status_code == 200
    assert Session.objects.count() == 2


def test_the_default_limit_is_a_hundred_and_zero_means_none(make_app, make_user):
    assert make_app().config["AUTH_MAX_SESSIONS_PER_USER"] == 100
    make_user()
    client = make_app(AUTH_MAX_SESSIONS_PER_USER=0, AUTH_LOGIN_MAX_ATTEMPTS=200).test_client()
    for _ in range(3):
        log_in(client)
    assert Session.objects.count() == 3


@pytest.fixture
def fresh_app(make_app, make_user):
    app = make_app(AUTH_LOGIN_MAX_ATTEMPTS=2)

    @app.get("/fresh/seconds")
    @auth.required(fresh=300)
    def fresh_seconds():
        return {"message": "ok"}

    @app.get("/fresh/timedelta")
    @auth.required(role="admin", fresh=datetime.timedelta(minutes=5))
    def fresh_timedelta():
        return {"message": "ok"}

    make_user()
    return app


def reauthenticate(client, token, password=PASSWORD):
    return client.post("/admin/reauthenticate", json={"password": password}, headers=bearer(token))


@pytest.mark.parametrize("path", ["/fresh/seconds", "/fresh/timedelta"])
def test_a_fresh_route_refuses_a_session_whose_password_was_checked_too_long_ago(fresh_app, path):
    client = fresh_app.test_client()
    with at(0):
        token = log_in(client)["token"]
        assert client.get(path, headers=bearer(token)).status_code == 200
    with at(6):
        response = client.get(path, headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "fresh_login_required"})
    assert "insufficient_user_authentication" in response.headers["WWW-Authenticate"]


def test_reauthenticating_makes_the_session_fresh_again(fresh_app):
    client = fresh_app.test_client()
    with at(0):
        token = log_in(client)["token"]
    with at(6):
        assert reauthenticate(client, token).json == {"message": "ok"}
        assert client.get("/fresh/seconds", headers=bearer(token)).status_code == 200
        listed = client.get("/admin/sessions", headers=bearer(token)).json["data"][0]
    assert listed["authenticated_at"] == (START + datetime.timedelta(minutes=6)).isoformat().replace("+00:00", "Z")


def test_a_refresh_keeps_the_time_of_the_last_password_check(fresh_app):
    client = fresh_app.test_client()
    with at(0):
        pair = log_in(client)
    with at(6):
        token = refresh(client, pair["refresh_token"]).json["data"]["token"]
        assert client.get("/fresh/seconds", headers=bearer(token)).json == {"message": "fresh_login_required"}


def test_a_wrong_password_does_not_reauthenticate_and_counts_like_a_failed_login(fresh_app):
    client = fresh_app.test_client()
    with at(0):
        token = log_in(client)["token"]
    with at(6):
        for _ in range(2):
            response = reauthenticate(client, token, "wrong password")
            assert (response.status_code, response.json) == (400, {"message": "bad_credentials"})
        assert reauthenticate(client, token).status_code == 429
        login = client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 429 and "Retry-After" in login.headers
        assert client.get("/fresh/seconds", headers=bearer(token)).status_code == 401


def test_reauthenticate_needs_a_session_and_a_password(fresh_app):
    client = fresh_app.test_client()
    assert client.post("/admin/reauthenticate", json={"password": PASSWORD}).status_code == 401
    token = log_in(client)["token"]
    response = client.post("/admin/reauthenticate", json={}, headers=bearer(token))
    assert (response.status_code, response.json["message"]) == (400, "bad_request")


def test_a_negative_freshness_is_a_programming_error():
    with pytest.raises(ValueError):
        auth.required(fresh=-1)


def test_a_graphql_rule_can_ask_for_a_fresh_login(client, make_user):
    admin = make_user()
    other = make_user(username="bob", role="editor")
    with at(0):
        token = log_in(client)["token"]
    query = "mutation($id: ID!) { reset_password(input: {id: $id}) { password } }"
    variables = {"id": str(other.pk)}
    with at(6):
        stale = graphql(client, query, token, variables).json
        assert stale["errors"][0]["message"] == "fresh_login_required"
        assert reauthenticate(client, token).status_code == 200
        fresh = graphql(client, query, token, variables).json
    assert fresh["data"]["reset_password"]["password"]
    assert admin.pk != other.pk

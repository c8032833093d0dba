"""A guarded request costs exactly one database command, counted on the wire,
also with ``auth.current_user()`` (a loaded user is kept per session user stamp).

pymongo's command monitoring sees every command a client sends; the listener
is registered before the app (and so its client) is created.
"""

from datetime import timedelta

import pytest
from bson import DBRef
from conftest import bearer, graphql, wire_only
from flask import jsonify
from pymongo import monitoring
from wire_server import CommandLog

from flask_auth_service_mongo import auth
from flask_auth_service_mongo.clock import utcnow
from flask_auth_service_mongo.models import Role, User
from flask_auth_service_mongo.state import get_state

pytestmark = wire_only


@pytest.fixture(scope="module")
def command_log():
    """Registered once, before any app of this module creates its client."""
    log = CommandLog()
    monitoring.register(log)
    return log


@pytest.fixture
def app(command_log, make_app):
    app = make_app()

    @app.get("/bench/admin")
    @auth.required(role="admin")
    def admin_only():
        return jsonify(message="ok")

    return app


@pytest.fixture
def token(make_user, login):
    make_user()
    return login()["token"]


#: The session check: one aggregate joining the session to its user and role.
ONE_READ = [("aggregate", "session")]


def test_a_guarded_request_sends_exactly_one_read_of_the_session(client, command_log, token):
    for _ in range(5):
        with command_log.recording() as commands:
            response = client.get("/plain/any", headers=bearer(token))
        assert response.status_code == 200
        assert commands == ONE_READ


def test_the_role_check_needs_no_extra_command(client, command_log, token):
    with command_log.recording() as commands:
        response = client.get("/bench/admin", headers=bearer(token))
    assert response.status_code == 200
    assert commands == ONE_READ


def test_a_refused_role_costs_the_same_single_command(client, command_log, make_user, login):
    make_user(role="guest")
    token = login(path="/plain/login")["token"]
    with command_log.recording() as commands:
        response = client.get("/bench/admin", headers=bearer(token))
    assert response.status_code == 403
    assert commands == ONE_READ


def test_a_revoked_session_is_seen_with_the_same_single_command(client, command_log, token):
    assert client.post("/admin/logout", headers=bearer(token)).status_code == 200
    with command_log.recording() as commands:
        response = client.get("/plain/any", headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})
    assert commands == ONE_READ


def test_a_token_refused_before_the_session_check_sends_no_command(client, command_log, token):
    with command_log.recording() as commands:
        assert client.get("/plain/any").status_code == 401
        assert client.get("/plain/any", headers=bearer(token[:-4] + "AAAA")).status_code == 401
    assert commands == []


def test_the_current_user_costs_no_extra_command(client, command_log, token):
    for _ in range(3):
        with command_log.recording() as commands:
            response = client.get("/plain/me", headers=bearer(token))
        assert (response.status_code, response.json["username"]) == (200, "alice")
        assert commands == ONE_READ


def test_a_user_changed_through_the_models_costs_no_extra_command(client, command_log, token):
    user = User.objects.get(username="alice")
    user.change_password = True
    user.save()
    with command_log.recording() as commands:
        response = client.get("/admin/me", headers=bearer(token))
    assert response.status_code == 200
    assert commands == ONE_READ


def test_a_role_reassigned_around_the_library_is_read_once_then_joined(client, command_log, token):
    guest = Role(name="guest", permissions={}).save()
    User._get_collection().update_one({"username": "alice"}, {"$set": {"role": DBRef("role", guest.pk)}})
    with command_log.recording() as commands:
        response = client.get("/plain/me", headers=bearer(token))
    assert response.status_code == 403
    assert commands == [("aggregate", "session"), ("find", "role"), ("update", "session")]
    with command_log.recording() as commands:
        assert client.get("/plain/any", headers=bearer(token)).status_code == 200
    assert commands == ONE_READ


def test_the_last_use_write_happens_once_an_interval_has_passed(app, client, command_log, token):
    stale = utcnow() - timedelta(seconds=app.config["AUTH_LAST_USED_INTERVAL_SECONDS"] + 1)
    with app.app_context():
        get_state().store.sessions.update_many({}, {"$set": {"last_used_at": stale}})
    with command_log.recording() as commands:
        assert client.get("/plain/any", headers=bearer(token)).status_code == 200
    assert commands == [("aggregate", "session"), ("update", "session")]
    with command_log.recording() as commands:
        assert client.get("/plain/any", headers=bearer(token)).status_code == 200
    assert commands == ONE_READ


def aliases_of_me(count: int) -> str:
    return "{ " + " ".join(f"m{i}: me {{ id }}" for i in range(count)) + " }"


def test_a_refused_token_costs_one_session_read_however_many_aliases_ask(client, command_log, token):
    assert client.post("/admin/logout", headers=bearer(token)).status_code == 200
    with command_log.recording() as commands:
        response = graphql(client, aliases_of_me(100), token)
    assert response.status_code == 200
    assert [e["message"] for e in response.json["errors"]] == ["unauthorized"] * 100
    assert commands == ONE_READ


def test_a_valid_token_costs_one_session_read_however_many_aliases_ask(client, command_log, token):
    with command_log.recording() as commands:
        response = graphql(client, aliases_of_me(100), token)
    assert response.status_code == 200 and len(response.json["data"]) == 100
    assert commands == ONE_READ  # the user the login loaded serves every alias


def test_the_issues_330_aliases_are_refused_before_any_read(client, command_log, token):
    assert client.post("/admin/logout", headers=bearer(token)).status_code == 200
    with command_log.recording() as commands:
        response = graphql(client, aliases_of_me(330), token)
    assert (response.status_code, response.json) == (400, {"errors": [{"message": "query_too_complex"}]})
    assert commands == []

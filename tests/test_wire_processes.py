"""Two app processes under waitress share one database: what one ends, the
other refuses on the very next request."""

import pytest
from conftest import PASSWORD, wire_only

from flask_auth_service_mongo.passwords import hash_password

pytestmark = wire_only

UNAUTHORIZED = (401, {"message": "unauthorized"})
NEW = "a brand new password"


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def first(user, start_app):
    return start_app()


@pytest.fixture
def second(user, start_app):
    return start_app()


def login(process, password=PASSWORD) -> dict:
    status, body = process.call("POST", "/admin/login", {"username": "alice", "password": password})
    assert status == 200, body
    return body["data"]


def test_a_logout_on_one_process_is_refused_at_once_by_the_other(first, second):
    token = login(first)["token"]
    assert first.call("GET", "/admin/me", token=token)[0] == 200
    assert second.call("POST", "/admin/logout", token=token) == (200, {"message": "ok"})
    assert first.call("GET", "/admin/me", token=token) == UNAUTHORIZED
    assert second.call("GET", "/admin/me", token=token) == UNAUTHORIZED


def test_logout_everywhere_on_one_process_ends_the_sessions_opened_on_both(first, second):
    tokens = [login(first)["token"], login(second)["token"]]
    status, body = second.call("POST", "/admin/logout-all", token=tokens[0])
    assert (status, body["data"]["ended"]) == (200, 2)
    for process in (first, second):
        for token in tokens:
            assert process.call("GET", "/admin/me", token=token) == UNAUTHORIZED


def test_a_password_saved_through_the_models_ends_the_sessions_in_every_process(user, first, second):
    tokens = [login(first)["token"], login(second)["token"]]
    user.password = hash_password(NEW, 4)
    user.save()
    for process in (first, second):
        for token in tokens:
            assert process.call("GET", "/admin/me", token=token) == UNAUTHORIZED
    assert second.call("POST", "/admin/login", {"username": "alice", "password": PASSWORD})[0] == 400
    assert login(second, NEW)["token"]


def test_a_refresh_token_spent_on_one_process_ends_the_session_when_replayed_on_the_other(first, second):
    data = login(first)
    status, _ = first.call("POST", "/admin/refresh", {"refresh_token": data["refresh_token"]})
    assert status == 200
    assert second.call("POST", "/admin/refresh", {"refresh_token": data["refresh_token"]}) == UNAUTHORIZED
    assert first.call("GET", "/admin/me", token=data["token"]) == UNAUTHORIZED


def test_a_password_updated_through_graphql_on_one_process_ends_the_other_sessions_on_both(first, second):
    caller, other = login(first)["token"], login(second)["token"]
    fields = f'current_password: "{PASSWORD}", new_password: "{NEW}", password_confirmed: "{NEW}"'
    mutation = "mutation { update_password(input: {" + fields + "}) { ok } }"
    assert first.call("POST", "/admin/graphql", {"query": mutation}, token=caller) == (
        200,
        {"data": {"update_password": {"ok": True}}},
    )
    for process in (first, second):
        assert process.call("GET", "/admin/me", token=other) == UNAUTHORIZED
        assert process.call("GET", "/admin/me", token=caller)[0] == 200

"""Injected server failures (mongod's ``failCommand`` fail point, scoped to
the app's connections) answer 503 and leave nothing half-written: what the
client is told matches what is stored."""

import time
import uuid
from datetime import timedelta

import pytest
from conftest import bearer, database_uri, wire_only
from pymongo.errors import OperationFailure

pytestmark = wire_only

APP_NAME = f"auth-wire-{uuid.uuid4().hex[:8]}"
TIMEOUT_MS = 1000
UNAVAILABLE = (503, {"message": "service_unavailable"})
#: Failures that end a command without running it. The retryable ones fail
#: twice, since pymongo retries a read or a write once on a network error.
ERROR = {"errorCode": 2}
DROPPED = {"closeConnection": True, "times": 2}
TIMED_OUT = {"blockConnection": True, "blockTimeMS": 2 * TIMEOUT_MS, "times": 2}


@pytest.fixture
def app(make_app, db_name):
    uri = database_uri(db_name)
    uri += ("&" if "?" in uri else "?") + f"appname={APP_NAME}"
    return make_app(MONGODB_URI=uri, AUTH_MONGODB_TIMEOUT_MS=TIMEOUT_MS)


@pytest.fixture
def sessions(server, db_name):
    return server[db_name].session


@pytest.fixture
def fail(server):
    """Arm ``failCommand`` for the app's connections: ``fail(["find"], errorCode=2)``."""
    armed = []

    def arm(commands, times=1, **data):
        data.update(failCommands=commands, appName=APP_NAME)
        try:
            server.admin.command("configureFailPoint", "failCommand", mode={"times": times}, data=data)
        except OperationFailure:
            pytest.skip("the server refuses configureFailPoint (enable its test commands)")
        armed.append(data)

    yield arm
    if armed:
        server.admin.command("configureFailPoint", "failCommand", mode="off")


@pytest.fixture
def token(make_user, login):
    make_user()
    return login()["token"]


def answer(response) -> tuple:
    return response.status_code, response.json


@pytest.mark.parametrize("fault", [ERROR, DROPPED, TIMED_OUT], ids=["error", "dropped", "timeout"])
def test_a_failed_session_check_answers_503_and_changes_nothing(client, token, fail, fault):
    fail(["aggregate"], **fault)
    assert answer(client.get("/admin/me", headers=bearer(token))) == UNAVAILABLE
    assert client.get("/admin/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("fault", [ERROR, DROPPED], ids=["error", "dropped"])
def test_a_logout_that_did_not_run_answers_503_and_the_session_stays_valid(client, token, fail, sessions, fault):
    fail(["delete"], **fault)
    assert answer(client.post("/admin/logout", headers=bearer(token))) == UNAVAILABLE
    assert sessions.count_documents({}) == 1
    assert client.get("/admin/me", headers=bearer(token)).status_code == 200


def test_a_logout_that_timed_out_answers_503_and_the_token_works_only_if_the_session_is_still_stored(
    client, token, fail, sessions
):
    fail(["delete"], **TIMED_OUT)
    assert answer(client.post("/admin/logout", headers=bearer(token))) == UNAVAILABLE
    time.sleep(TIMED_OUT["blockTimeMS"] / 1000)  # the blocked deletes may still run
    stored = sessions.count_documents({}) == 1
    assert client.get("/admin/me", headers=bearer(token)).status_code == (200 if stored else 401)


def test_a_logout_whose_write_concern_failed_answers_503_yet_the_session_is_gone(client, token, fail, sessions):
    fail(["delete"], writeConcernError={"code": 64, "errmsg": "waiting for replication timed out"})
    assert answer(client.post("/admin/logout", headers=bearer(token))) == UNAVAILABLE
    assert sessions.count_documents({}) == 0
    assert answer(client.get("/admin/me", headers=bearer(token))) == (401, {"message": "unauthorized"})


def test_a_failed_logout_everywhere_answers_503_and_every_session_stays(client, token, login, fail, sessions):
    login()
    fail(["delete"], **ERROR)
    assert answer(client.post("/admin/logout-all", headers=bearer(token))) == UNAVAILABLE
    assert sessions.count_documents({}) == 2


@pytest.mark.parametrize("fault", [ERROR, DROPPED], ids=["error", "dropped"])
def test_a_failed_refresh_answers_503_and_does_not_spend_the_refresh_token(client, make_user, login, fail, fault):
    make_user()
    refresh_token = login()["refresh_token"]
    fail(["findAndModify"], **fault)
    assert answer(client.post("/admin/refresh", json={"refresh_token": refresh_token})) == UNAVAILABLE
    assert client.post("/admin/refresh", json={"refresh_token": refresh_token}).status_code == 200


def test_a_refresh_that_timed_out_answers_503_and_its_retry_works_only_if_the_token_was_not_spent(
    client, make_user, login, fail, sessions
):
    make_user()
    refresh_token = login()["refresh_token"]
    fail(["findAndModify"], **TIMED_OUT)
    assert answer(client.post("/admin/refresh", json={"refresh_token": refresh_token})) == UNAVAILABLE
    time.sleep(TIMED_OUT["blockTimeMS"] / 1000)  # the blocked updates may still run
    spent = "prev_refresh_jti" in sessions.find_one()
    retry = client.post("/admin/refresh", json={"refresh_token": refresh_token})
    assert retry.status_code == (401 if spent else 200)


@pytest.mark.parametrize("fault", [ERROR, TIMED_OUT], ids=["error", "timeout"])
def test_a_failed_last_use_write_answers_503_and_the_session_stays_valid(client, token, fail, sessions, fault):
    aged = sessions.find_one()["last_used_at"] - timedelta(hours=1)
    sessions.update_one({}, {"$set": {"last_used_at": aged}})
    fail(["update"], **fault)
    assert answer(client.get("/admin/me", headers=bearer(token))) == UNAVAILABLE
    assert client.get("/admin/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("fault", [ERROR, DROPPED], ids=["error", "dropped"])
def test_a_login_whose_session_was_not_stored_answers_503(client, make_user, fail, sessions, fault):
    make_user()
    fail(["insert"], **fault)
    response = client.post("/admin/login", json={"username": "alice", "password": "correct horse"})
    assert answer(response) == UNAVAILABLE
    assert sessions.count_documents({}) == 0

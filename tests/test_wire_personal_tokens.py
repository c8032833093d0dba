"""Personal access tokens on the wire server: one command a request (none
from the session cache), a revocation seen by other processes within the
lag bound, concurrent revocations of one token: exactly one wins.

Every wait is bounded (``wire_server.wait_for``); nothing asserts a duration.
"""

from __future__ import annotations

import hashlib
import threading

import jwt
import pytest
from conftest import PASSWORD, SECRET, bearer, wire_only
from test_wire_session_cache import UNAUTHORIZED, WAIT_SECONDS, command_log  # noqa: F401  (a fixture)
from wire_server import wait_for

from flask_auth_service_mongo import auth
from flask_auth_service_mongo.models import Role

pytestmark = wire_only

SCOPED = "/admin/users"


@pytest.fixture
def alice(make_user):
    Role(name="admin", permissions={"scopes": ["read:users"]}).save()
    return make_user()


def new_token(process) -> tuple[str, str]:
    """Log in on ``process`` and create a token there: (token, its id)."""
    status, body = process.call("POST", "/admin/login", {"username": "alice", "password": PASSWORD})
    assert status == 200, body
    session = body["data"]["token"]
    payload = {"name": "ci", "scopes": ["read:users"], "expires_in_days": 1}
    status, body = process.call("POST", "/admin/tokens", payload, token=session)
    assert status == 201, body
    return body["data"]["token"], body["data"]["id"], session


@pytest.fixture
def pair_of_processes(alice, start_app):
    return start_app(AUTH_SESSION_CACHE=True), start_app(AUTH_SESSION_CACHE=True)


def test_a_revocation_in_another_process_is_refused_within_the_bound(pair_of_processes):
    first, second = pair_of_processes
    token, token_id, session = new_token(second)
    for _ in range(3):
        assert first.call("GET", SCOPED, token=token)[0] == 200
    assert second.call("DELETE", f"/admin/tokens/{token_id}", token=session) == (200, {"message": "ok"})
    assert second.call("GET", SCOPED, token=token) == UNAUTHORIZED  # its own change: at once
    wait_for(lambda: first.call("GET", SCOPED, token=token) == UNAUTHORIZED, WAIT_SECONDS, "the refusal")
    for _ in range(3):
        assert first.call("GET", SCOPED, token=token) == UNAUTHORIZED


def test_a_raw_delete_of_the_token_is_refused_within_the_bound(pair_of_processes, server, db_name):
    first, second = pair_of_processes
    token, _, _ = new_token(second)
    assert first.call("GET", SCOPED, token=token)[0] == 200
    assert server[db_name].session.delete_one({"kind": "pat"}).deleted_count == 1
    for process in pair_of_processes:
        wait_for(lambda p=process: p.call("GET", SCOPED, token=token) == UNAUTHORIZED, WAIT_SECONDS, "the refusal")


@pytest.mark.parametrize("cache", [False, True])
def test_a_token_request_costs_what_a_session_request_costs(command_log, make_app, alice, cache):  # noqa: F811
    app = make_app(AUTH_SESSION_CACHE=cache)
    app.add_url_rule("/scoped", "scoped", auth.required(scope="read:users")(lambda: {"message": "ok"}))
    client = app.test_client()
    session = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    body = {"name": "ci", "scopes": ["read:users"], "expires_in_days": 1}
    token = client.post("/admin/tokens", json=body, headers=bearer(session)).json["data"]["token"]

    def commands_of(credential: str) -> list:
        with command_log.recording() as commands:
            assert client.get("/scoped", headers=bearer(credential)).status_code == 200
        return list(commands)

    commands_of(token)  # the first use writes its last use
    if cache:
        wait_for(lambda: commands_of(token) == [] and commands_of(session) == [], WAIT_SECONDS, "mirror hits")
    assert len(commands_of(token)) == len(commands_of(session)) == (0 if cache else 1)


def test_the_mirror_holding_a_token_record_refuses_an_access_token_naming_it(command_log, make_app, alice):  # noqa: F811
    app = make_app(AUTH_SESSION_CACHE=True)
    app.add_url_rule("/scoped", "scoped", auth.required(scope="read:users")(lambda: {"message": "ok"}))
    client = app.test_client()
    session = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    body = {"name": "ci", "scopes": ["read:users"], "expires_in_days": 1}
    token = client.post("/admin/tokens", json=body, headers=bearer(session)).json["data"]["token"]
    claims = jwt.decode(session, SECRET, algorithms=["HS256"])
    claims["sid"] = hashlib.sha256(token.encode()).hexdigest()  # the token record's _id, as a session id
    forged = jwt.encode(claims, SECRET, algorithm="HS256")

    def answer_of(credential: str) -> tuple:
        with command_log.recording() as commands:
            response = client.get("/scoped", headers=bearer(credential))
        return response.status_code, response.json["message"], len(commands)

    wait_for(lambda: answer_of(token) == (200, "ok", 0), WAIT_SECONDS, "the token's record in the mirror")
    assert answer_of(forged) == (401, "unauthorized", 0)  # refused by the mirror's record, with no read
    assert answer_of(token) == (200, "ok", 0)


def test_concurrent_revocations_of_one_token_end_it_once(alice, start_app):
    process = start_app()
    token, token_id, session = new_token(process)
    answers: list = []
    barrier = threading.Barrier(6)

    def revoke() -> None:
        barrier.wait()
        answers.append(process.call("DELETE", f"/admin/tokens/{token_id}", token=session)[0])

    threads = [threading.Thread(target=revoke) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200] + [404] * 5
    assert process.call("GET", SCOPED, token=token) == UNAUTHORIZED

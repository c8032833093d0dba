"""The database dies and comes back: requests fail closed with 503 meanwhile,
the same app processes recover, and what was written survives the crash.

These tests kill a wire server of their own (``SECANTUSD``, set by .ci/run),
never the one in ``MONGODB_URI``.
"""

import pytest
from conftest import PASSWORD, bearer, wire_only
from wire_server import SERVER_COMMAND, WireServer, wait_for

pytestmark = [
    wire_only,
    pytest.mark.skipif(not SERVER_COMMAND, reason="needs SECANTUSD, the path of a secantusd-py to start and kill"),
]

UNAVAILABLE = (503, {"message": "service_unavailable"})
TIMEOUT_MS = 1000
RECOVERY_SECONDS = 30


@pytest.fixture
def own_server(tmp_path):
    server = WireServer(tmp_path / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(make_app, own_server, db_name):
    return make_app(MONGODB_URI=own_server.uri(db_name), AUTH_MONGODB_TIMEOUT_MS=TIMEOUT_MS)


@pytest.fixture
def processes(make_user, start_app, own_server, db_name):
    make_user()
    config = {"MONGODB_URI": own_server.uri(db_name), "AUTH_MONGODB_TIMEOUT_MS": TIMEOUT_MS}
    return start_app(**config), start_app(**config)


def login_over_http(process) -> dict:
    status, body = process.call("POST", "/admin/login", {"username": "alice", "password": PASSWORD})
    assert status == 200, body
    return body["data"]


def me(client, token: str) -> tuple:
    response = client.get("/admin/me", headers=bearer(token))
    return response.status_code, response.json


def wait_until_answered(call, seconds=RECOVERY_SECONDS) -> tuple:
    """Repeat ``call`` while it answers 503 service_unavailable; the first other answer."""
    last = []

    def answered() -> bool:
        last[:] = [call()]
        assert last[0][0] != 503 or last[0] == UNAVAILABLE, last[0]
        return last[0] != UNAVAILABLE

    wait_for(answered, seconds, "an answer other than 503")
    return last[0]


def test_while_the_database_is_down_every_request_answers_503_and_the_processes_recover(own_server, processes):
    first, second = processes
    token = login_over_http(first)["token"]
    refresh_token = login_over_http(second)["refresh_token"]
    own_server.kill()
    for process in processes:
        assert process.call("GET", "/admin/me", token=token) == UNAVAILABLE
        assert process.call("POST", "/admin/login", {"username": "alice", "password": PASSWORD}) == UNAVAILABLE
        assert process.call("POST", "/admin/refresh", {"refresh_token": refresh_token}) == UNAVAILABLE
    assert second.call("POST", "/admin/logout", token=token) == UNAVAILABLE

    own_server.start()
    for process in processes:
        status, body = wait_until_answered(lambda process=process: process.call("GET", "/admin/me", token=token))
        assert (status, body["data"]["username"]) == (200, "alice")
    assert login_over_http(second)["token"]
    assert second.call("POST", "/admin/refresh", {"refresh_token": refresh_token})[0] == 200


def test_users_roles_and_sessions_survive_a_crash_of_the_server(own_server, db_name, client, make_user, login):
    make_user()
    kept = login()["token"]
    ended = login()["token"]
    assert client.post("/admin/logout", headers=bearer(ended)).status_code == 200
    own_server.kill()
    own_server.start()

    assert wait_until_answered(lambda: me(client, kept)) == (
        200,
        {"message": "ok", "data": {"username": "alice", "role": "admin"}},
    )
    assert me(client, ended) == (401, {"message": "unauthorized"})
    assert login()["token"]
    with own_server.client() as direct:
        database = direct[db_name]
        assert database.role.count_documents({"name": "admin"}) == 1
        assert database.user.count_documents({"username": "alice"}) == 1
        assert database.session.count_documents({}) == 2

"""AUTH_SESSION_CACHE on the wire server: what other processes change is
refused within the lag bound, a cached request sends no command, fills never
bring back what a change removed, the database's death is a 503, forked
workers follow on their own.

Every wait is bounded (``wire_server.wait_for``); nothing asserts a duration.
"""

import contextlib
import json
import subprocess
import sys
import threading
import uuid

import jwt
import pytest
from bson import DBRef
from conftest import PASSWORD, bearer, database_uri, wire_only
from pymongo import monitoring
from pymongo.errors import OperationFailure
from test_graphql_update_password import UPDATE
from test_wire_outage import UNAVAILABLE, wait_until_answered
from wire_server import ROOT, SERVER_COMMAND, CommandLog, WireServer, wait_for

from flask_auth_service_mongo.clock import utcnow
from flask_auth_service_mongo.models import Role, User
from flask_auth_service_mongo.passwords import hash_password
from flask_auth_service_mongo.state import get_state

pytestmark = wire_only

CACHED = {"AUTH_SESSION_CACHE": True}
UNAUTHORIZED = (401, {"message": "unauthorized"})
FORBIDDEN = (403, {"message": "forbidden"})
#: Far above the lag bound (500 ms): only a broken cache waits this long.
WAIT_SECONDS = 15


@pytest.fixture(scope="module")
def command_log():
    log = CommandLog(streams=False)
    monitoring.register(log)
    return log


def login(process, password=PASSWORD) -> dict:
    status, body = process.call("POST", "/admin/login", {"username": "alice", "password": password})
    assert status == 200, body
    return body["data"]


def me(process, token):
    return process.call("GET", "/admin/me", token=token)


def wait_for_refusal(process, token, refusal=UNAUTHORIZED) -> None:
    """Until ``process`` refuses ``token`` (200 meanwhile), then it keeps refusing."""

    def refused() -> bool:
        answer = me(process, token)
        assert answer[0] == 200 or answer == refusal, answer
        return answer == refusal

    wait_for(refused, WAIT_SECONDS, f"the refusal {refusal}")
    for _ in range(3):
        assert me(process, token) == refusal


@pytest.fixture
def pair_of_processes(make_user, start_app):
    make_user()
    return start_app(**CACHED), start_app(**CACHED)


def cached_token(process) -> str:
    token = login(process)["token"]
    for _ in range(3):
        assert me(process, token)[0] == 200
    return token


def test_a_logout_in_another_process_is_refused_within_the_bound(pair_of_processes):
    first, second = pair_of_processes
    token = cached_token(first)
    assert second.call("POST", "/admin/logout", token=token) == (200, {"message": "ok"})
    assert me(second, token) == UNAUTHORIZED  # its own change: at once
    wait_for_refusal(first, token)


def test_a_raw_delete_in_the_session_collection_is_refused_within_the_bound(pair_of_processes, server, db_name):
    first, second = pair_of_processes
    token = cached_token(first)
    assert me(second, token)[0] == 200
    assert server[db_name].session.delete_one({}).deleted_count == 1
    for process in pair_of_processes:
        wait_for_refusal(process, token)


def test_a_password_change_in_another_process_ends_the_cached_sessions(pair_of_processes):
    first, second = pair_of_processes
    token = cached_token(first)
    changer = login(second)["token"]
    variables = {"current": PASSWORD, "new": "a brand new secret", "confirmed": "a brand new secret"}
    status, answer = second.call("POST", "/admin/graphql", {"query": UPDATE, "variables": variables}, token=changer)
    assert (status, answer) == (200, {"data": {"update_password": {"ok": True}}})
    wait_for_refusal(first, token)
    assert me(first, changer)[0] == 200


def test_a_role_change_through_the_models_is_refused_within_the_bound(pair_of_processes):
    first, _ = pair_of_processes
    token = cached_token(first)
    user = User.objects.get(username="alice")
    user.role = Role(name="guest", permissions={}).save()
    user.save()
    wait_for_refusal(first, token, FORBIDDEN)


@pytest.fixture
def cached_app(command_log, make_app):
    return make_app(**CACHED)


def test_a_cached_guarded_request_and_its_current_user_send_no_command(cached_app, command_log, pair):
    client, token = cached_app.test_client(), pair["token"]

    def costs_nothing() -> bool:
        with command_log.recording() as commands:
            assert client.get("/plain/me", headers=bearer(token)).status_code == 200
        return commands == []

    wait_for(costs_nothing, WAIT_SECONDS, "a request answered from the mirror")
    for path in ("/plain/any", "/plain/me", "/admin/me"):
        with command_log.recording() as commands:
            assert client.get(path, headers=bearer(token)).status_code == 200
        assert commands == []


def test_a_logout_in_the_same_process_is_refused_by_its_very_next_request(cached_app, command_log, pair):
    client, token = cached_app.test_client(), pair["token"]
    wait_for(lambda: client.get("/plain/any", headers=bearer(token)).status_code == 200, WAIT_SECONDS, "200")
    assert client.post("/admin/logout", headers=bearer(token)).status_code == 200
    response = client.get("/plain/any", headers=bearer(token))
    assert (response.status_code, response.json) == UNAUTHORIZED


def race_fills(process, targets, fillers, end, at_once: bool) -> list:
    """Threads request each target in turn among ``fillers`` (a mirror of two
    entries: every request for it is a fill) while ``end(target)`` ends it;
    the answers that showed it alive after its end was seen (``at_once``: as
    soon as ``end`` returned, else after a first refusal)."""
    errors = []
    current = {"token": None, "ended": False}
    done = threading.Event()

    def hammer() -> None:
        while not done.is_set():
            for token in [current["token"], *fillers]:
                ended_before = token == current["token"] and current["ended"]
                answer = me(process, token)
                if answer[0] != 200 and answer != UNAUTHORIZED or (ended_before and answer[0] == 200):
                    errors.append((answer, ended_before))

    current["token"] = targets[0]
    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        for target in targets:
            current.update(token=target, ended=False)
            for _ in range(5):
                assert me(process, target)[0] == 200
            end(target)
            current["ended"] = at_once
            wait_for(lambda target=target: me(process, target) == UNAUTHORIZED, WAIT_SECONDS, "the refusal")
            current["ended"] = True
            for _ in range(20):
                assert me(process, target) == UNAUTHORIZED
    finally:
        done.set()
        for thread in threads:
            thread.join()
    return errors


@pytest.fixture
def small_mirror(make_user, start_app):
    make_user()
    return start_app(AUTH_SESSION_CACHE=True, AUTH_SESSION_CACHE_SIZE=2)


@contextlib.contextmanager
def slow_getmores(server, app_name: str, block_ms: int):
    """Every getMore of the clients named ``app_name`` answered ``block_ms`` late."""
    data = {"failCommands": ["getMore"], "appName": app_name, "blockConnection": True, "blockTimeMS": block_ms}
    try:
        server.admin.command("configureFailPoint", "failCommand", mode={"times": 100_000}, data=data)
    except OperationFailure:
        pytest.skip("the server refuses configureFailPoint (enable its test commands)")
    try:
        yield
    finally:
        server.admin.command("configureFailPoint", "failCommand", mode="off")


@pytest.fixture
def slow_stream(server, db_name, start_app, make_user):
    """A process whose change stream answers late (each getMore held 150 ms,
    still within the bound): a fill landing after its eviction would live on."""
    make_user()
    app_name = f"cache-{uuid.uuid4().hex[:8]}"
    uri = database_uri(db_name) + f"&appname={app_name}"
    with slow_getmores(server, app_name, 150):
        yield start_app(MONGODB_URI=uri, AUTH_SESSION_CACHE=True, AUTH_SESSION_CACHE_SIZE=2)


def test_fills_racing_logouts_in_the_same_process_never_bring_a_session_back(slow_stream):
    small_mirror = slow_stream
    tokens = [login(small_mirror)["token"] for _ in range(23)]

    def logout(token):
        assert small_mirror.call("POST", "/admin/logout", token=token) == (200, {"message": "ok"})

    assert race_fills(small_mirror, tokens[3:], tokens[:3], logout, at_once=True) == []
    for token in tokens:
        assert me(small_mirror, token)[0] == (200 if token in tokens[:3] else 401)


def test_fills_racing_raw_deletes_never_bring_a_session_back(small_mirror, server, db_name):
    tokens = [login(small_mirror)["token"] for _ in range(13)]
    session_of = {token: jwt.decode(token, options={"verify_signature": False})["sid"] for token in tokens}

    def delete(token):
        assert server[db_name].session.delete_one({"_id": session_of[token]}).deleted_count == 1

    assert race_fills(small_mirror, tokens[3:], tokens[:3], delete, at_once=False) == []


@pytest.mark.skipif(not SERVER_COMMAND, reason="needs SECANTUSD, the path of a secantusd-py to start and kill")
def test_with_the_database_killed_the_cache_answers_503_then_recovers_in_the_same_process(
    tmp_path, make_app, db_name, make_user
):
    own_server = WireServer(tmp_path / "data")
    own_server.start()
    try:
        app = make_app(MONGODB_URI=own_server.uri(db_name), AUTH_MONGODB_TIMEOUT_MS=1000, **CACHED)
        make_user()
        client = app.test_client()
        token = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]

        def call():
            response = client.get("/admin/me", headers=bearer(token))
            return response.status_code, response.json

        for _ in range(3):
            assert call()[0] == 200
        own_server.kill()

        def unavailable() -> bool:
            answer = call()
            assert answer[0] == 200 or answer == UNAVAILABLE, answer
            return answer == UNAVAILABLE

        wait_for(unavailable, WAIT_SECONDS, "503 once the bound has passed")
        for _ in range(3):
            assert call() == UNAVAILABLE  # never a 200 again while it is down

        own_server.start()
        assert wait_until_answered(call)[0] == 200
        with own_server.client() as direct:
            assert direct[db_name].session.delete_many({}).deleted_count == 1

        def refused() -> bool:
            answer = call()
            assert answer[0] in (200, 401), answer
            return answer == UNAUTHORIZED

        wait_for(refused, WAIT_SECONDS, "the revocation after the recovery")
    finally:
        own_server.stop()


FORKING_WORKER = """
import json, os, sys, time
from pymongo import MongoClient, monitoring

class Count(monitoring.CommandListener):
    commands = 0
    def started(self, event):
        target = event.command.get(event.command_name)
        pipeline = event.command.get("pipeline") or [{}]
        stream = event.command_name in ("getMore", "killCursors") or "$changeStream" in pipeline[0]
        if not stream and target != "auth_mirror_watermark":
            Count.commands += 1
    def succeeded(self, event): pass
    def failed(self, event): pass

monitoring.register(Count())
from examples.app import create_app
config = json.loads(sys.argv[1])
app = create_app(config)
client = app.test_client()
login = {"username": "alice", "password": sys.argv[2]}

def wait(check):
    deadline = time.monotonic() + 15
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True

def free(token):
    before = Count.commands
    assert client.get("/admin/me", headers={"Authorization": "Bearer " + token}).status_code == 200
    return Count.commands == before

parent_token = client.post("/admin/login", json=login).json["data"]["token"]
assert wait(lambda: free(parent_token))  # the parent's mirror is open and trusted

pid = os.fork()
if pid == 0:
    time.sleep(1)  # past the lag bound: whatever the parent confirmed no longer counts
    client = app.test_client()
    token = client.post("/admin/login", json=login).json["data"]["token"]
    cached = wait(lambda: free(token))
    with MongoClient(config["MONGODB_URI"]) as direct:
        direct.get_default_database().session.delete_many({})
    refused = wait(lambda: client.get("/admin/me", headers={"Authorization": "Bearer " + token}).status_code == 401)
    print(json.dumps({"cached": cached, "refused": refused}), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_a_forked_worker_opens_its_own_change_stream(make_user, db_name):
    make_user()
    config = {"SECRET_KEY": "s" * 48, "MONGODB_URI": database_uri(db_name), "AUTH_BCRYPT_ROUNDS": 4, **CACHED}
    result = subprocess.run(
        [sys.executable, "-c", FORKING_WORKER, json.dumps(config), PASSWORD],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"cached": True, "refused": True}


def test_the_last_use_is_written_once_an_interval_has_passed_also_from_the_mirror(cached_app, command_log, pair):
    client, token = cached_app.test_client(), pair["token"]
    wait_for(lambda: client.get("/plain/any", headers=bearer(token)).status_code == 200, WAIT_SECONDS, "200")
    with cached_app.app_context():
        get_state().store.sessions.update_many({}, {"$set": {"last_used_at": utcnow().replace(year=2000)}})
    # A last-use write changes nothing the mirror must drop; a model save does,
    # and the refill reads the stale last use.
    User.objects.get(username="alice").save()

    def wrote_last_use() -> bool:
        with command_log.recording() as commands:
            assert client.get("/plain/any", headers=bearer(token)).status_code == 200
        return ("update", "session") in commands

    wait_for(wrote_last_use, WAIT_SECONDS, "the last-use write")

    def costs_nothing() -> bool:
        with command_log.recording() as commands:
            assert client.get("/plain/any", headers=bearer(token)).status_code == 200
        return commands == []

    wait_for(costs_nothing, WAIT_SECONDS, "a request answered from the mirror")
    with command_log.recording() as commands:
        assert client.get("/plain/any", headers=bearer(token)).status_code == 200
    assert commands == []


def test_a_queryset_disable_is_refused_within_the_bound(pair_of_processes):
    first, _ = pair_of_processes
    token = cached_token(first)
    User.objects(username="alice").update(set__active=False)
    wait_for_refusal(first, token)


def test_a_raw_password_write_is_refused_within_the_bound_and_ends_the_session(pair_of_processes, server, db_name):
    first, _ = pair_of_processes
    token = cached_token(first)
    server[db_name].user.update_one({"username": "alice"}, {"$set": {"password": hash_password("raw", 4)}})
    wait_for_refusal(first, token)
    assert server[db_name].session.count_documents({}) == 0


def test_a_raw_demotion_is_refused_within_the_bound(pair_of_processes, server, db_name):
    first, _ = pair_of_processes
    token = cached_token(first)
    guest = server[db_name].role.insert_one({"name": "guest", "permissions": {}}).inserted_id
    server[db_name].user.update_one({"username": "alice"}, {"$set": {"role": DBRef("role", guest)}})
    wait_for_refusal(first, token, FORBIDDEN)


def test_a_role_renamed_in_the_database_is_refused_within_the_bound(pair_of_processes, server, db_name):
    first, _ = pair_of_processes
    token = cached_token(first)
    server[db_name].role.update_one({"name": "admin"}, {"$set": {"name": "retired"}})
    wait_for_refusal(first, token, FORBIDDEN)

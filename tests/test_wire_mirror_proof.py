"""AUTH_SESSION_CACHE under what breaks a naive proof of currency: change
events held behind empty batches (a ``mongos`` with a quiet shard, played by
``wire_proxy``), a backlog drained by slow getMores, history pruned while the
process is paused, the server killed and restarted, the session collection
dropped or renamed.

Each scenario requests a revoked session from threads and counts two
things, both zero: the requests *sent* more than the bound (500 ms) after
the revocation was acknowledged and answered 200 (late acceptances), and the
200s sent after a first refusal (refusals followed by acceptances). A
request is timed where it is sent, the revocation where its acknowledgement
came back: both err towards counting an acceptance late.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import jwt
import pytest
from bson import ObjectId
from conftest import PASSWORD, SERVER_URI, bearer, database_uri, wire_only
from pymongo import monitoring
from pymongo.write_concern import WriteConcern
from test_wire_session_cache import slow_getmores
from wire_proxy import HoldingProxy
from wire_server import SERVER_COMMAND, CommandLog, WireServer, wait_for

from flask_auth_service_mongo.clock import utcnow

pytestmark = wire_only
needs_own_server = pytest.mark.skipif(not SERVER_COMMAND, reason="needs SECANTUSD, a secantusd-py to start and kill")

BOUND_SECONDS = 0.5
CACHED = {"AUTH_SESSION_CACHE": True, "AUTH_SESSION_CACHE_MAX_LAG_MS": int(BOUND_SECONDS * 1000)}
WAIT_SECONDS = 15
JOURNALED = WriteConcern("majority", j=True)


@pytest.fixture(scope="module")
def command_log():
    log = CommandLog(streams=False)
    monitoring.register(log)
    return log


class Verdicts:
    """Requests for one session from ``threads`` threads while running, each
    kept as (sent, answered, status); ``call()`` makes one and returns its status."""

    def __init__(self, call, threads: int = 2):
        self.call = call
        self.threads = threads
        self.answers: list[tuple[float, float, int]] = []
        self.revoked_at: float | None = None
        self.running: list[threading.Thread] = []
        self.done = threading.Event()

    def start(self) -> Verdicts:
        self.done.clear()
        self.running = [threading.Thread(target=self.run) for _ in range(self.threads)]
        for thread in self.running:
            thread.start()
        return self

    def stop(self) -> None:
        self.done.set()
        for thread in self.running:
            thread.join()

    def __enter__(self) -> Verdicts:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def run(self) -> None:
        while not self.done.is_set():
            sent = time.monotonic()
            status = self.call()
            self.answers.append((sent, time.monotonic(), status))

    def revoked(self) -> None:
        """Call as soon as the revocation is acknowledged."""
        self.revoked_at = time.monotonic()

    def during(self, seconds: float) -> None:
        time.sleep(seconds)

    def statuses(self) -> set[int]:
        return {status for _, _, status in self.answers}

    def late(self) -> list:
        assert self.revoked_at is not None
        return [a for a in self.answers if a[2] == 200 and a[0] > self.revoked_at + BOUND_SECONDS]

    def after_refusal(self) -> list:
        refusals = [answered for _, answered, status in self.answers if status == 401]
        return [a for a in self.answers if refusals and a[2] == 200 and a[0] > min(refusals)]

    def check(self) -> None:
        assert self.statuses() <= {200, 401, 503}, self.statuses()
        assert 401 in self.statuses()
        assert (self.late(), self.after_refusal()) == ([], [])


def login(client) -> str:
    response = client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.json
    return response.json["data"]["token"]


def session_id(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sid"]


def status_of(app, token):
    """A ``call`` for ``Verdicts``: a guarded request in ``app``, one test client a thread."""
    local = threading.local()

    def call() -> int:
        if not hasattr(local, "client"):
            local.client = app.test_client()
        return local.client.get("/admin/me", headers=bearer(token)).status_code

    return call


def wait_until_cached(app, command_log, token) -> None:
    """Until a request with ``token`` sends no command (answered from the
    proven mirror), then three more in a row."""
    client = app.test_client()

    def costs_nothing() -> bool:
        with command_log.recording() as commands:
            assert client.get("/admin/me", headers=bearer(token)).status_code == 200
        return commands == []

    wait_for(costs_nothing, WAIT_SECONDS, "a request answered from the mirror")
    for _ in range(3):
        assert costs_nothing()


def revoke(database, token: str) -> None:
    found = database.session.with_options(write_concern=JOURNALED).delete_one({"_id": session_id(token)})
    assert found.deleted_count == 1


@pytest.fixture
def proxy():
    holding = HoldingProxy(urlsplit(SERVER_URI).port)
    yield holding
    holding.close()


def test_events_held_behind_empty_batches_are_no_proof(proxy, make_app, make_user, server, db_name, command_log):
    make_user()
    app = make_app(MONGODB_URI=proxy.uri(db_name), **CACHED)
    client = app.test_client()
    token, other = login(client), login(client)
    wait_until_cached(app, command_log, token)  # no delay: the mirror answers
    proxy.delay = 3.0
    with Verdicts(status_of(app, token)) as verdicts:
        verdicts.during(0.3)
        revoke(server[db_name], token)
        verdicts.revoked()
        verdicts.during(3.5)  # past the delay: every held event had its chance
    proxy.delay = 0.0
    wait_until_cached(app, command_log, other)  # proven again
    with verdicts:
        verdicts.during(0.5)
    assert proxy.held_events > 0
    verdicts.check()


@pytest.mark.slow
def test_a_backlog_drained_by_slow_getmores_is_no_proof(make_app, make_user, server, db_name, command_log):
    make_user()
    app_name = f"backlog-{uuid.uuid4().hex[:8]}"
    app = make_app(MONGODB_URI=database_uri(db_name) + f"&appname={app_name}", **CACHED)
    client = app.test_client()
    token, other = login(client), login(client)
    sessions = server[db_name].session
    expires_at = utcnow() + timedelta(days=1)
    sessions.insert_many([{"_id": f"filler-{n}", "user": ObjectId(), "expires_at": expires_at} for n in range(6000)])
    wait_until_cached(app, command_log, token)
    with slow_getmores(server, app_name, 50), Verdicts(status_of(app, token)) as verdicts:
        verdicts.during(0.3)
        assert sessions.delete_many({"_id": {"$regex": "^filler-"}}).deleted_count == 6000
        revoke(server[db_name], token)
        verdicts.revoked()
        verdicts.during(4.0)
    wait_until_cached(app, command_log, other)
    with verdicts:
        verdicts.during(0.5)
    verdicts.check()


@pytest.mark.parametrize("change", ["drop", "rename"])
def test_the_session_collection_dropped_or_renamed_starts_the_mirror_over(
    change, make_app, make_user, server, db_name, command_log
):
    make_user()
    app = make_app(**CACHED)
    client = app.test_client()
    token = login(client)
    wait_until_cached(app, command_log, token)
    with Verdicts(status_of(app, token)) as verdicts:
        verdicts.during(0.3)
        if change == "drop":
            server[db_name].session.drop()
        else:
            server[db_name].session.rename("session_before")
        verdicts.revoked()
        verdicts.during(1.5)
    verdicts.check()
    wait_until_cached(app, command_log, login(client))  # followed again


@needs_own_server
@pytest.mark.slow
def test_the_server_killed_and_restarted_on_its_data_fails_closed_then_recovers(
    tmp_path, make_app, make_user, db_name, command_log
):
    own_server = WireServer(tmp_path / "data")
    own_server.start()
    try:
        app = make_app(MONGODB_URI=own_server.uri(db_name), AUTH_MONGODB_TIMEOUT_MS=1000, **CACHED)
        make_user()
        client = app.test_client()
        before, after = login(client), login(client)
        wait_until_cached(app, command_log, before)
        wait_until_cached(app, command_log, after)
        with Verdicts(status_of(app, before)) as verdicts:
            verdicts.during(0.3)
            with own_server.client() as direct:
                revoke(direct[db_name], before)  # just before the crash
            verdicts.revoked()
            own_server.kill()
            wait_for(lambda: 503 in verdicts.statuses(), WAIT_SECONDS, "503 while the server is down")
            own_server.start()
            wait_for(lambda: verdicts.answers[-1][2] == 401, WAIT_SECONDS, "the server back")
            verdicts.during(1.0)
        verdicts.check()
        wait_until_cached(app, command_log, after)  # proven again after the restart
        with Verdicts(status_of(app, after)) as verdicts:
            verdicts.during(0.3)
            with own_server.client() as direct:
                revoke(direct[db_name], after)
            verdicts.revoked()
            verdicts.during(1.5)
        verdicts.check()
    finally:
        own_server.stop()


@needs_own_server
@pytest.mark.slow
def test_history_pruned_while_the_process_is_paused_starts_the_mirror_over(
    tmp_path, make_app, make_user, db_name, start_app
):
    own_server = WireServer(tmp_path / "data", options=("--oplog-max-entries", "300"))
    own_server.start()
    try:
        make_app(MONGODB_URI=own_server.uri(db_name))
        make_user()
        process = start_app(MONGODB_URI=own_server.uri(db_name), **CACHED)
        tokens = [process.call("POST", "/admin/login", {"username": "alice", "password": PASSWORD}) for _ in range(2)]
        first, second = (body["data"]["token"] for _, body in tokens)

        def status(token):
            return lambda: process.call("GET", "/admin/me", token=token)[0]

        for token in (first, second):  # mirrored and proven
            with Verdicts(status(token)) as warm:
                warm.during(1.0)
            assert warm.statuses() == {200}
        process.proc.send_signal(signal.SIGSTOP)
        try:
            with own_server.client() as direct:
                for token in (first, second):
                    revoke(direct[db_name], token)
                revoked_at = time.monotonic()
                for _ in range(4):  # far more writes than the oplog keeps
                    direct[db_name].filler.insert_many([{"n": n} for n in range(500)])
            time.sleep(0.15)  # paused for less than the bound: trust has not lapsed yet
        finally:
            process.proc.send_signal(signal.SIGCONT)
        # The first session's requests make the mirror prove itself again;
        # the second is asked only then.
        for token in (first, second):
            with Verdicts(status(token)) as verdicts:
                verdicts.revoked_at = revoked_at
                verdicts.during(1.5)
            verdicts.check()
        # The history since its last proof is gone: the mirror started over.
        assert "the mirror is dropped" in process.log.read_text()
    finally:
        own_server.stop()

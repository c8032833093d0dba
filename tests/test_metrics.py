"""Prometheus metrics (AUTH_METRICS): the counters moving with the flows, a
registry of the app's own, and one scrape summing two gunicorn workers."""

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import PASSWORD, SECRET, SERVER_URI, bearer, database_uri
from flask import Flask
from mfa_helpers import enrol
from prometheus_client import REGISTRY, CollectorRegistry
from wire_server import ROOT, free_port, http_call, wait_for

from flask_auth_service_mongo import AuthService, api_rest, metrics


class Samples:
    """The change of the registry's samples since this object was made."""

    def __init__(self, registry=REGISTRY):
        self.registry = registry
        self.start = self.read()

    def read(self) -> dict:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in self.registry.collect() for s in m.samples}

    def delta(self, name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        return self.read().get(key, 0) - self.start.get(key, 0)


def test_logins_count_by_result(client, make_user):
    make_user()
    samples = Samples()
    for password in (PASSWORD, "wrong password", "wrong again"):
        client.post("/admin/login", json={"username": "alice", "password": password})
    client.post("/admin/login", json={"username": "nobody", "password": PASSWORD})
    assert samples.delta("auth_logins_total", result="ok") == 1
    assert samples.delta("auth_logins_total", result="bad_credentials") == 3
    assert samples.delta("auth_login_seconds_count") == 4
    assert samples.delta("auth_login_seconds_sum") > 0


def test_a_lockout_and_a_second_factor_count_as_theirs(make_app, make_user):
    app = make_app(AUTH_LOGIN_MAX_ATTEMPTS=1, AUTH_LOGIN_LOCKOUT_SECONDS=60)
    make_user()
    make_user("bob")
    client = app.test_client()
    token = client.post("/admin/login", json={"username": "bob", "password": PASSWORD}).json["data"]["token"]
    enrol(client, token)
    samples = Samples()
    assert client.post("/admin/login", json={"username": "bob", "password": PASSWORD}).json["message"] == "mfa_required"
    client.post("/admin/login", json={"username": "alice", "password": "wrong"})
    assert client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).status_code == 429
    assert samples.delta("auth_logins_total", result="mfa_required") == 1
    assert samples.delta("auth_logins_total", result="locked_out") == 1
    assert samples.delta("auth_logins_total", result="ok") == 0


def test_sessions_ended_count_by_reason(client, make_user, login):
    make_user()
    first, second, third = login(), login(), login()
    samples = Samples()
    client.post("/admin/logout", headers=bearer(first["token"]))
    client.post("/admin/logout-all", headers=bearer(second["token"]))
    assert samples.delta("auth_sessions_ended_total", reason="logout") == 1
    assert samples.delta("auth_sessions_ended_total", reason="logout_all") == 2  # second and third
    assert client.get("/admin/me", headers=bearer(third["token"])).status_code == 401


def test_guarded_requests_count_by_result(client, make_user, login):
    make_user()
    make_user("bob", role="viewer")
    alice, bob = login(), login("bob", path="/plain/login")
    samples = Samples()
    client.get("/plain/me", headers=bearer(alice["token"]))
    client.get("/plain/me", headers=bearer(bob["token"]))
    client.get("/plain/me")
    client.get("/plain/me", headers=bearer("not.a.token"))
    assert samples.delta("auth_guarded_requests_total", result="ok") == 1
    assert samples.delta("auth_guarded_requests_total", result="forbidden") == 1
    assert samples.delta("auth_guarded_requests_total", result="unauthorized") == 1
    assert samples.delta("auth_guarded_requests_total", result="invalid_token") == 1


def test_the_example_serves_them_in_the_text_format(client, make_user):
    make_user()
    client.post("/admin/login", json={"username": "alice", "password": "wrong"})
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    text = answer.get_data(as_text=True)
    assert re.search(r'^auth_logins_total\{result="bad_credentials"\} [1-9]', text, re.M)
    assert "# TYPE auth_login_seconds histogram" in text


def own_app(db_name: str, registry=None, **config) -> Flask:
    app = Flask(__name__)
    settings = {"SECRET_KEY": SECRET, "MONGODB_URI": database_uri(db_name), "AUTH_BCRYPT_ROUNDS": 4, "TESTING": True}
    app.config.update(settings, **config)
    AuthService(app, metrics_registry=registry)
    app.post("/login")(api_rest.login)
    app.get("/metrics")(metrics.exposition)
    return app


def test_an_app_can_keep_them_in_a_registry_of_its_own(db_name, make_user):
    registry = CollectorRegistry()
    app = own_app(db_name, registry, AUTH_METRICS=True)
    global_samples, own_samples = Samples(), Samples(registry)
    app.test_client().post("/login", json={"username": "nobody", "password": PASSWORD})
    assert own_samples.delta("auth_logins_total", result="bad_credentials") == 1
    assert global_samples.delta("auth_logins_total", result="bad_credentials") == 0
    assert "auth_logins_total" in app.test_client().get("/metrics").get_data(as_text=True)


def test_they_are_off_by_default(db_name):
    registry = CollectorRegistry()
    app = own_app(db_name, registry)
    app.test_client().post("/login", json={"username": "nobody", "password": PASSWORD})
    assert Samples(registry).start == {}
    with app.test_request_context("/metrics"), pytest.raises(RuntimeError, match="AUTH_METRICS is off"):
        metrics.exposition()


@pytest.mark.slow
def test_one_scrape_sums_the_counts_of_two_gunicorn_workers(db_name, tmp_path):
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable))
    assert gunicorn, "gunicorn is in the test extra"
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = free_port()
    environment = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "SECRET_KEY": SECRET,
        "MONGODB_URI": database_uri(db_name) if SERVER_URI else f"mongomock://localhost/{db_name}",
        "FLASK_AUTH_BCRYPT_ROUNDS": "4",
        # However the workers share the logins, none is locked out by the IP limit.
        "FLASK_AUTH_LOGIN_IP_MAX_ATTEMPTS": "0",
    }
    args = [gunicorn, "-w", "2", "-b", f"127.0.0.1:{port}", "-c", str(ROOT / "examples" / "gunicorn.conf.py")]
    # The access log names the worker (its pid) that answered each request.
    access_log = tmp_path / "access.log"
    args += ["--access-logfile", str(access_log), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s"]
    log = open(tmp_path / "gunicorn.log", "w")
    server = subprocess.Popen([*args, "examples.app:create_app()"], cwd=ROOT, env=environment, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _workers(server) == 2 and _answers(base), 60, "gunicorn's two workers")
        sent = 0

        def fail_a_login(number: int) -> int:
            body = {"username": f"nobody{number}", "password": "wrong password"}
            return http_call("POST", base + "/admin/login", body)[0]

        def login_workers() -> set:
            lines = access_log.read_text().splitlines() if access_log.exists() else []
            return {line.split()[0] for line in lines if " POST /admin/login 400" in line}

        with ThreadPoolExecutor(8) as pool:  # both workers busy at once
            while sent < 400 and len(login_workers()) < 2:
                assert set(pool.map(fail_a_login, range(sent, sent + 16))) == {400}
                sent += 16
                time.sleep(0.2)  # the access log is written after the answer
        assert len(login_workers()) == 2, "both workers answered logins"
        status, text = http_call("GET", base + "/metrics")
        assert status == 200
        found = re.search(r'^auth_logins_total\{result="bad_credentials"\} (\S+)$', text, re.M)
        assert found and float(found.group(1)) == sent > 0, (sent, found)
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def _answers(base: str) -> bool:
    try:
        return http_call("GET", base + "/.well-known/jwks.json")[0] == 200
    except OSError:
        return False


def _workers(server: subprocess.Popen) -> int:
    children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
    return len(children)

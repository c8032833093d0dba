"""The in-memory demo tells the truth about itself when it runs in several processes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: A demo process: start, say "ready", serve one request per line of stdin.
DEMO = """
import sys
from examples.app import create_app
app = create_app()
print("ready", flush=True)
for line in sys.stdin:
    app.test_client().get("/admin/me")
    print("served", flush=True)
"""
#: gunicorn --preload in miniature: the app built once, then two forked workers.
FORKED = """
import os
from examples.app import create_app
app = create_app()
hold_read, hold_write = os.pipe()
started_read, started_write = os.pipe()
first = os.fork()
if first == 0:
    os.write(started_write, b"x")  # fork() has returned: its hooks have run
    os.read(hold_read, 1)
    os._exit(0)
os.read(started_read, 1)
second = os.fork()
if second == 0:
    os._exit(0)
os.waitpid(second, 0)
os.write(hold_write, b"x")
os.waitpid(first, 0)
print("workers", first, second, flush=True)
"""


@pytest.fixture
def environ(tmp_path):
    """The environment of a demo: no MONGODB_URI, its own temp dir."""
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "SECRET_KEY") and "FLASK" not in k}
    return {**env, "TMPDIR": str(tmp_path), "DEMO_ADMIN_PASSWORD": "demo-password", "AUTH_BCRYPT_ROUNDS": "4"}


def spawn(script, env):
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(process, word):
    line = process.stdout.readline()
    while line and word not in line:
        line = process.stdout.readline()
    assert word in line, process.stderr.read()


def finish(process):
    stdout, stderr = process.communicate(timeout=60)
    return stderr


def test_each_of_two_demo_processes_warns_that_its_database_is_its_own(environ):
    first = spawn(DEMO, environ)
    wait_for(first, "ready")
    second = spawn(DEMO, environ)
    wait_for(second, "ready")
    first.stdin.write("request\n")
    first.stdin.flush()
    wait_for(first, "served")
    first_log, second_log = finish(first), finish(second)
    for log, other in ((second_log, first.pid), (first_log, second.pid)):
        assert "the in-memory demo database runs in more than one process" in log
        assert str(other) in log
        assert "MONGODB_URI=" in log and "own random key" in log
    assert first_log.count("more than one process") == 1


def test_a_single_demo_process_does_not_warn(environ):
    alone = spawn(DEMO, environ)
    wait_for(alone, "ready")
    alone.stdin.write("request\n")
    alone.stdin.flush()
    wait_for(alone, "served")
    assert "more than one process" not in finish(alone)


def test_with_a_secret_key_the_warning_does_not_blame_the_key(environ):
    environ["SECRET_KEY"] = "k" * 48
    first = spawn(DEMO, environ)
    wait_for(first, "ready")
    second = spawn(DEMO, environ)
    wait_for(second, "ready")
    finish(first)
    log = finish(second)
    assert "more than one process" in log and "random key" not in log


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_workers_forked_from_one_preloaded_demo_warn_too(environ):
    process = spawn(FORKED, environ)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    workers = stdout.split()[-2:]
    [warning] = [line for line in stderr.splitlines() if "more than one process" in line]
    assert f"(this one, {workers[1]}, and {workers[0]})" in warning
    assert "random key" not in warning  # the workers share the key made before the fork


def test_a_demo_with_a_registry_of_its_own_does_not_see_the_others(environ, tmp_path):
    # What the test suite does (conftest), so that "make run" beside it
    # cannot change what its commands print.
    first = spawn(DEMO, environ)
    wait_for(first, "ready")
    apart = spawn(DEMO, {**environ, "FLASK_AUTH_DEMO_REGISTRY": str(tmp_path / "tests")})
    wait_for(apart, "ready")
    apart.stdin.write("request\n")
    apart.stdin.flush()
    wait_for(apart, "served")
    finish(first)
    assert "more than one process" not in finish(apart)
    assert (tmp_path / "tests").is_dir()

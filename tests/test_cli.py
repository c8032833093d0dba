"""flask auth_mongo ...: roles, users, sessions."""

import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from conftest import SECRET, bearer

from flask_auth_service_mongo.models import Role, Session, User

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_role_new_creates_a_role_with_permissions(runner):
    result = runner.invoke(args=["auth_mongo", "role-new", "-n", "admin", "-p", '{"users": "write"}'])
    assert result.exit_code == 0, result.output
    assert Role.objects.get(name="admin").permissions == {"users": "write"}


@pytest.mark.parametrize("permissions", ["not json", "[1]", '"text"'])
def test_role_new_refuses_permissions_that_are_not_an_object(runner, permissions):
    result = runner.invoke(args=["auth_mongo", "role-new", "-n", "admin", "-p", permissions])
    assert result.exit_code != 0
    assert "must be a JSON object" in result.output
    assert Role.objects.count() == 0


def test_role_new_refuses_a_duplicate(runner):
    runner.invoke(args=["auth_mongo", "role-new", "-n", "admin"])
    result = runner.invoke(args=["auth_mongo", "role-new", "-n", "admin"])
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_user_new_creates_a_user_who_can_log_in(runner, client):
    runner.invoke(args=["auth_mongo", "role-new", "-n", "admin"])
    result = runner.invoke(args=["auth_mongo", "user-new", "-r", "admin", "-u", "Bob", "--password", "a long password"])
    assert result.exit_code == 0, result.output
    user = User.objects.get(username="bob")
    assert user.password.startswith("$2b$04$")
    response = client.post("/admin/login", json={"username": "bob", "password": "a long password"})
    assert response.status_code == 200


def test_user_new_prompts_for_the_password_twice(runner):
    runner.invoke(args=["auth_mongo", "role-new", "-n", "admin"])
    result = runner.invoke(
        args=["auth_mongo", "user-new", "-r", "admin", "-u", "bob"], input="secret pass\nsecret pass\n"
    )
    assert result.exit_code == 0, result.output
    assert "secret pass" not in result.output
    assert User.objects(username="bob").count() == 1


@pytest.mark.parametrize(
    "args, reason",
    [
        (["-r", "nope", "-u", "bob", "--password", "long enough"], "role 'nope' does not exist"),
        (["-r", "admin", "-u", "bo", "--password", "long enough"], "at least 3 characters"),
        (["-r", "admin", "-u", "bob", "--password", "short"], "at least 8 characters"),
        (["-r", "admin", "-u", "bob", "--password", "x" * 73], "72 UTF-8 bytes"),
        (["-r", "admin", "-u", "b o b", "--password", "long enough"], "without spaces"),
    ],
)
def test_user_new_errors_exit_non_zero_with_a_reason(runner, args, reason):
    runner.invoke(args=["auth_mongo", "role-new", "-n", "admin"])
    result = runner.invoke(args=["auth_mongo", "user-new", *args])
    assert result.exit_code != 0
    assert reason in result.output
    assert User.objects.count() == 0


def test_user_new_refuses_a_duplicate(runner):
    runner.invoke(args=["auth_mongo", "role-new", "-n", "admin"])
    runner.invoke(args=["auth_mongo", "user-new", "-r", "admin", "-u", "bob", "--password", "long enough"])
    result = runner.invoke(args=["auth_mongo", "user-new", "-r", "admin", "-u", "BOB", "--password", "long enough"])
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_logout_user_ends_every_session_of_that_user_only(runner, client, make_user, login):
    make_user()
    make_user(username="bob")
    alice_tokens = [login()["token"], login()["token"]]
    bob_token = login(username="bob")["token"]
    result = runner.invoke(args=["auth_mongo", "logout-user", "-u", "alice"])
    assert result.exit_code == 0, result.output
    assert "2 session(s)" in result.output
    for token in alice_tokens:
        assert client.get("/admin/me", headers=bearer(token)).status_code == 401
    assert client.get("/admin/me", headers=bearer(bob_token)).status_code == 200


def test_logout_user_of_an_unknown_user_fails(runner):
    result = runner.invoke(args=["auth_mongo", "logout-user", "-u", "ghost"])
    assert result.exit_code != 0
    assert "does not exist" in result.output


def test_clear_tokens_removes_only_expired_sessions_unless_forced(runner, client, make_user, login):
    make_user()
    live = login()["token"]
    expired = login()["token"]
    expired_sid = jwt.decode(expired, SECRET, algorithms=["HS256"])["sid"]
    # Stand in for MongoDB's lazy TTL sweep: an expired session still stored.
    Session._get_collection().drop_index("expires_at_1")
    Session.objects(id=expired_sid).update_one(set__expires_at=Session.objects.get(id=expired_sid).created_at)
    result = runner.invoke(args=["auth_mongo", "clear-tokens"])
    assert result.exit_code == 0 and "1 session(s) removed" in result.output
    assert client.get("/admin/me", headers=bearer(live)).status_code == 200
    result = runner.invoke(args=["auth_mongo", "clear-tokens", "--forced"])
    assert "1 session(s) removed" in result.output
    assert client.get("/admin/me", headers=bearer(live)).status_code == 401


@pytest.mark.parametrize("args", [["clear-tokens"], ["logout-user", "-u", "alice"], ["role-new", "-n", "admin"]])
def test_a_database_that_cannot_be_reached_is_a_one_line_error(unreachable_app, args):
    result = unreachable_app.test_cli_runner().invoke(args=["auth_mongo", *args])
    assert result.exit_code != 0
    assert result.output.strip() == "Error: database error: ServerSelectionTimeoutError"


def test_the_in_memory_backend_outside_testing_is_refused_with_a_one_line_reason(make_app):
    app = make_app(TESTING=False, MONGODB_URI="mongomock://localhost/cli_refused")
    result = app.test_cli_runner().invoke(args=["auth_mongo", "role-new", "-n", "editor"])
    assert result.exit_code != 0
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: ") and "set MONGODB_URI" in line
    assert Role.objects.count() == 0


def flask_cli(*args, **env):
    """``flask --app examples.app ...`` in a process of its own, as a user types it."""
    environ = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "SECRET_KEY") and "FLASK" not in k}
    environ["FLASK_AUTH_DEMO_REGISTRY"] = os.environ["FLASK_AUTH_DEMO_REGISTRY"]  # the tests' own (conftest)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "examples.app", *args],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_on_the_in_memory_demo_says_to_set_mongodb_uri():
    result = flask_cli("auth_mongo", "role-new", "-n", "editor")
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert "in-memory backend" in line and "set MONGODB_URI" in line


def test_a_configuration_error_met_by_a_cli_command_is_one_line_not_a_traceback():
    result = flask_cli("auth_mongo", "role-new", "-n", "editor", MONGODB_URI="mongodb://127.0.0.1:1/nowhere")
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "Error: AUTH_SECRET_KEY is not set (nor Flask's SECRET_KEY): tokens cannot be signed"
    )
    assert "Traceback" not in result.stdout + result.stderr


def test_clear_tokens_takes_0_1_8s_short_flag(runner, client, make_user, login):
    make_user()
    live = login()["token"]
    result = runner.invoke(args=["auth_mongo", "clear-tokens", "-f"])
    assert result.exit_code == 0 and "1 session(s) removed" in result.output
    assert client.get("/admin/me", headers=bearer(live)).status_code == 401

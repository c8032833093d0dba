"""The real 0.1.8, in a venv of its own, on a database this version has written.

0.1.8 writes users and whitelist tokens; this version logs them in, ends
sessions and writes users through every admin path; then 0.1.8 reads every
user and role (its models are strict), logs each user in, and refuses the
token this version revoked. The venv (the pins of issue 16) is built once
into ``LEGACY_0_1_8_VENV`` (default ``.venv-legacy-0.1.8``), and the test is
skipped when it cannot be built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import bearer, database_uri, graphql, wire_only

from flask_auth_service_mongo.models import User

pytestmark = wire_only

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("LEGACY_0_1_8_VENV") or ROOT / ".venv-legacy-0.1.8")
BUILD_SECONDS = 600
#: What worked with 0.1.8 on Python 3.11 (mongoengine 0.19 needs setuptools<58 to build).
BUILD_STEPS = [
    ["setuptools<58", "wheel"],
    ["--no-build-isolation", "mongoengine==0.19.1", "pymongo==3.13.0"],
    [
        "Flask==1.1.4",
        "Werkzeug==1.0.1",
        "Jinja2==2.11.3",
        "itsdangerous==1.1.0",
        "MarkupSafe==2.0.1",
        "click==7.1.2",
        "PyJWT==1.7.1",
        "bcrypt==3.2.2",
        "Cerberus==1.3.8",
        "graphene==2.1.9",
        "graphql-core==2.3.2",
        "graphene-mongo==0.2.13",
        "Flask-GraphQL==2.0.1",
    ],
    ["--no-deps", "flask-auth-service-mongo==0.1.8"],
]
#: Runs under 0.1.8: argv[1] the URI, argv[2] a JSON list of steps; prints a JSON list of results.
LEGACY_SCRIPT = r"""
import json, sys
import mongoengine
from flask import Flask, jsonify
from flask_auth_service_mongo import api_rest, auth
from flask_auth_service_mongo.security.models import Role, User
from flask_auth_service_mongo.security.use_cases import CreateUser, NewRole

mongoengine.connect(host=sys.argv[1])
app = Flask("legacy")
app.add_url_rule("/login", "login", lambda: api_rest.login(), methods=["POST"])
app.add_url_rule("/me", "me", auth.required()(lambda: ({"username": auth.current_user().username}, 200)))
client = app.test_client()
results = []
for step in json.loads(sys.argv[2]):
    kind = step[0]
    if kind == "role":
        results.append(NewRole().handle({"name": step[1]}).message)
    elif kind == "user":
        request = {"username": step[1], "password": step[2], "password_confirmed": step[2], "role": step[3]}
        results.append(CreateUser().handle(request).message)
    elif kind == "login":
        answer = client.post("/login", json={"username": step[1], "password": step[2]})
        results.append([answer.status_code, (answer.get_json().get("data") or {}).get("access_token")])
    elif kind == "me":
        answer = client.get("/me", headers={"Authorization": "Bearer " + step[1]})
        results.append([answer.status_code, answer.get_json()])
    elif kind == "read":
        users = [[u.username, u.role.name, u.active, u.change_password] for u in User.objects.order_by("username")]
        roles = [[r.name, r.permissions] for r in Role.objects.order_by("name")]
        results.append([users, roles])
print(json.dumps(results))
"""


def legacy_python() -> Path:
    """The venv's python, built once; skips the test when it cannot be built."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-I", "-c", "import flask_auth_service_mongo.security.models"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True)
        for step in BUILD_STEPS:
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *step],
                check=True,
                capture_output=True,
                text=True,
                timeout=BUILD_SECONDS,
            )
        subprocess.run(probe, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as error:
        last = (error.stderr or error.stdout or "").strip().splitlines()[-1:] or ["?"]
        pytest.skip(f"the 0.1.8 venv cannot be built here: {' '.join(error.cmd[3:]) or error.cmd} failed: {last[0]}")
    except subprocess.TimeoutExpired as error:
        pytest.skip(f"the 0.1.8 venv took over {BUILD_SECONDS} s to build: {error.cmd}")
    return python


@pytest.fixture(scope="module")
def legacy():
    python = legacy_python()

    def run(uri: str, *steps) -> list:
        env = {**os.environ, "SECRET_KEY": "a short 0.1.8 key", "WHITE_LIST_TOKEN": "1"}
        done = subprocess.run(
            [str(python), "-I", "-c", LEGACY_SCRIPT, uri, json.dumps(steps)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


ALICE_PASSWORD = "alice-password"  # 0.1.8 refuses spaces in passwords
CREATE = "mutation($input: CreateUserInput!) { create_user(input: $input) { user { id } } }"
UPDATE = "mutation($input: UpdateUserInput!) { update_user(input: $input) { user { id } } }"
RESET = "mutation($id: ID!) { reset_password(input: {id: $id}) { password } }"


def test_0_1_8_reads_and_logs_in_everyone_after_this_version_wrote_and_revoked(legacy, make_app, db_name):
    uri = database_uri(db_name)
    # 1. 0.1.8 creates its data and signs a user in (a whitelist token).
    role_made, user_made, old_login = legacy(
        uri, ["role", "admin"], ["user", "oldie", "old-password", "admin"], ["login", "oldie", "old-password"]
    )
    assert (role_made, user_made, old_login[0]) == ("created", "created", 200), (role_made, user_made)
    old_token = old_login[1]

    # 2. This version: the old user logs in, logs out everywhere; admins write users every way.
    app = make_app(AUTH_ADMIN_ROLES="owner,admin")  # alice outranks oldie, whom she resets
    client, runner = app.test_client(), app.test_cli_runner()
    ours = client.post("/admin/login", json={"username": "oldie", "password": "old-password"})
    assert ours.status_code == 200
    assert client.post("/admin/logout-all", headers=bearer(ours.json["data"]["token"])).status_code == 200
    for args in (
        ["role-new", "-n", "staff", "-p", '{"users": "read"}'],
        ["role-new", "-n", "owner"],
        ["user-new", "-r", "owner", "-u", "Alice", "--password", ALICE_PASSWORD],
    ):
        assert runner.invoke(args=["auth_mongo", *args]).exit_code == 0
    admin = client.post("/plain/login", json={"username": "alice", "password": ALICE_PASSWORD}).json["data"]["token"]
    carol = {"username": "carol", "password": "carols-secret", "password_confirmed": "carols-secret", "role": "staff"}
    carol_id = graphql(client, CREATE, admin, {"input": carol}).json["data"]["create_user"]["user"]["id"]
    assert graphql(client, UPDATE, admin, {"input": {"id": carol_id, "change_password": True}}).status_code == 200
    oldie_id = str(User.objects.get(username="oldie").pk)
    reset = graphql(client, RESET, admin, {"id": oldie_id}).json["data"]["reset_password"]["password"]

    # 3. 0.1.8 again: every user and role reads, everyone logs in, the revoked token is refused.
    read, me_old, alice, carol_in, oldie_in = legacy(
        uri,
        ["read"],
        ["me", old_token],
        ["login", "alice", ALICE_PASSWORD],
        ["login", "carol", "carols-secret"],
        ["login", "oldie", reset],
    )
    users, roles = read
    assert users == [["alice", "owner", True, False], ["carol", "staff", True, True], ["oldie", "admin", True, True]]
    assert roles == [["admin", {}], ["owner", {}], ["staff", {"users": "read"}]]
    assert me_old[0] == 401
    assert [alice[0], carol_in[0], oldie_in[0]] == [200, 200, 200]
    [me_alice] = legacy(uri, ["me", alice[1]])
    assert me_alice == [200, {"username": "alice"}]

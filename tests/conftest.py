"""Fixtures: a fresh app and database per test, on mongomock or on the
server named by ``MONGODB_URI`` (each test its own database, dropped after)."""

from __future__ import annotations

import os
import tempfile
import uuid
from urllib.parse import urlsplit, urlunsplit

import jwt
import mongoengine
import pymongo
import pytest
from flask import jsonify

from examples.app import create_app
from flask_auth_service_mongo import api_rest, auth, database
from flask_auth_service_mongo.models import Role, User
from flask_auth_service_mongo.passwords import hash_password

SERVER_URI = os.environ.get("MONGODB_URI")
# The in-memory demos the tests start register in a directory of their own:
# a demo the developer runs beside the tests (make run) is not one of them.
os.environ["FLASK_AUTH_DEMO_REGISTRY"] = tempfile.mkdtemp(prefix="flask-auth-demo-tests-")
SECRET = "s" * 48
PASSWORD = "correct horse"


def database_uri(name: str) -> str:
    if not SERVER_URI:
        return f"mongomock://localhost/{name}"
    parts = urlsplit(SERVER_URI)
    return urlunsplit(parts._replace(path="/" + name))


def pytest_report_header(config):
    return f"database backend: {SERVER_URI or 'mongomock'}"


def pytest_terminal_summary(terminalreporter):
    stats = terminalreporter.stats
    counts = {what: sum("/test_wire_" in r.nodeid for r in stats.get(what, [])) for what in ("passed", "skipped")}
    terminalreporter.write_line(f"wire-only tests: {counts['passed']} passed, {counts['skipped']} skipped")


wire_only = pytest.mark.skipif(not SERVER_URI, reason="needs a MongoDB wire server (MONGODB_URI)")


@pytest.fixture(scope="session")
def server():
    """The tests' own client of the server in ``MONGODB_URI`` (None on
    mongomock): apps may point mongoengine elsewhere, e.g. at a dead port."""
    if not SERVER_URI:
        yield None
        return
    client = pymongo.MongoClient(SERVER_URI, serverSelectionTimeoutMS=10_000)
    yield client
    client.close()


@pytest.fixture
def db_name(server):
    name = "test_" + uuid.uuid4().hex[:12]
    yield name
    mongoengine.disconnect()
    database.close_clients()  # each app's connections (the server caps them) and session cache thread
    if server is not None:
        server.drop_database(name)


@pytest.fixture
def make_app(db_name):
    """Build the example admin app (plus plain Flask views) with extra config."""

    def make(**config):
        settings = {
            "TESTING": True,
            "SECRET_KEY": SECRET,
            "MONGODB_URI": database_uri(db_name),
            "AUTH_BCRYPT_ROUNDS": 4,
            # The library's default; the example's cookies are test_cookies'.
            "AUTH_TOKEN_LOCATION": "headers",
        }
        settings.update(config)
        app = create_app(settings)

        @app.post("/plain/login")
        def plain_login():
            return api_rest.login()

        @app.get("/plain/me")
        @auth.required(role="admin")
        def plain_me():
            return jsonify(message="ok", username=auth.current_user().username)

        @app.get("/plain/any")
        @auth.required()
        def plain_any():
            return jsonify(message="ok")

        @app.get("/plain/fresh")
        @auth.required(require_password_change=True)
        def plain_fresh():
            return jsonify(message="ok")

        return app

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    """Create a user (and its role) straight through the models."""

    def make(username="alice", password=PASSWORD, role="admin", **fields):
        role_doc = Role.objects(name=role).first() or Role(name=role, permissions={}).save()
        return User(username=username, password=hash_password(password, 4), role=role_doc, **fields).save()

    return make


@pytest.fixture
def login(client):
    """Log in through the API; returns the ``data`` of the answer."""

    def do(username="alice", password=PASSWORD, path="/admin/login", **kwargs):
        response = client.post(path, json={"username": username, "password": password}, **kwargs)
        assert response.status_code == 200, response.json
        return response.json["data"]

    return do


@pytest.fixture
def start_app(db_name, tmp_path):
    """Start examples.app under waitress in a process of its own (wire tests);
    returns a ``wire_server.AppProcess``, stopped after the test."""
    from wire_server import AppProcess

    started = []

    def start(**config):
        settings = {"SECRET_KEY": SECRET, "MONGODB_URI": database_uri(db_name), "AUTH_BCRYPT_ROUNDS": 4, **config}
        process = AppProcess(tmp_path / f"app{len(started)}.log", settings)
        started.append(process)
        process.start()
        return process

    yield start
    for process in started:
        process.stop()


#: A database nobody answers on: every operation times out quickly.
UNREACHABLE = {"MONGODB_URI": "mongodb://127.0.0.1:1/unreachable", "AUTH_MONGODB_TIMEOUT_MS": 200}


@pytest.fixture
def unreachable_app(make_app):
    return make_app(**UNREACHABLE)


@pytest.fixture
def alice(make_user):
    """The user alice, role admin, password ``PASSWORD``."""
    return make_user()


@pytest.fixture
def pair(make_user, login):
    """Alice, logged in: the ``data`` of the login answer."""
    make_user()
    return login()


def signed_token(kind: str = "access") -> str:
    """A well-signed token of ``kind`` for a session that does not exist."""
    claims = {"sub": "6b013a6935dc50d17f512454", "sid": "s", "jti": "j", "type": kind, "iat": 1, "exp": 2**32}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def graphql(client, query: str, token: str | None = None, variables: dict | None = None, path: str = "/admin/graphql"):
    """POST a GraphQL operation, with the Bearer token when given."""
    body = {"query": query, "variables": variables}
    return client.post(path, json=body, headers=bearer(token) if token else {})

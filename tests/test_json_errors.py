"""JSON everywhere under the API prefix: unknown paths, methods not allowed
and OPTIONS answer like the rest of the API (``errors.json_errors``)."""

import pytest
from conftest import SECRET, bearer, database_uri
from flask import Blueprint, Flask, jsonify

from flask_auth_service_mongo import AuthService, auth, errors

NOT_FOUND = {"message": "not_found"}
NOT_ALLOWED = {"message": "method_not_allowed"}


@pytest.mark.parametrize("path", ["/admin/logout%00", "/admin/no/such/thing", "/admin/me/%2e%2e"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "OPTIONS"])
def test_unknown_paths_under_the_prefix_answer_a_json_404(client, path, method):
    response = client.open(path, method=method)
    assert (response.status_code, response.json, response.mimetype) == (404, NOT_FOUND, "application/json")


def test_the_prefix_itself_answers_json(client):
    # flask-restx's root of the blueprint: GET only, and nothing there.
    assert (client.get("/admin/").status_code, client.get("/admin/").json) == (404, NOT_FOUND)
    assert (client.post("/admin/").status_code, client.post("/admin/").json) == (405, NOT_ALLOWED)


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("GET", "/admin/login", {"POST", "OPTIONS"}),  # a flask-restx resource
        ("PUT", "/admin/graphql", {"GET", "HEAD", "POST", "OPTIONS"}),  # a plain view
        ("POST", "/admin/me", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_a_method_not_allowed_answers_a_json_405_with_allow(client, method, path, allowed):
    response = client.open(path, method=method)
    assert (response.status_code, response.json) == (405, NOT_ALLOWED)
    assert set(response.headers["Allow"].split(", ")) == allowed


@pytest.mark.parametrize(
    "path, allowed",
    [("/admin/login", {"POST", "OPTIONS"}), ("/admin/graphql", {"GET", "HEAD", "POST", "OPTIONS"})],
)
def test_options_answers_204_with_allow_and_no_body(client, path, allowed):
    response = client.options(path)
    assert (response.status_code, response.data) == (204, b"")
    assert "Content-Type" not in response.headers
    assert set(response.headers["Allow"].split(", ")) == allowed


def test_options_needs_no_token_nor_csrf_and_changes_nothing(client, pair):
    assert client.options("/admin/logout").status_code == 204
    assert client.get("/admin/me", headers=bearer(pair["token"])).status_code == 200


def test_refusals_keep_their_own_answers(client):
    response = client.get("/admin/me")
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})
    assert "WWW-Authenticate" in response.headers


def test_paths_outside_the_prefix_keep_flasks_answers(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_a_redirect_under_the_prefix_stays_a_redirect(make_app):
    app = make_app()
    app.add_url_rule("/admin/folder/", "folder", lambda: jsonify(message="ok"))
    response = app.test_client().get("/admin/folder")
    assert response.status_code == 308 and response.headers["Location"].endswith("/admin/folder/")


def test_the_helper_serves_a_plain_flask_blueprint(db_name):
    api = Blueprint("api", __name__)

    @api.get("/me")
    @auth.required()
    def me():
        return jsonify(message="ok")

    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY=SECRET, MONGODB_URI=database_uri(db_name))
    AuthService(app)
    app.register_blueprint(api, url_prefix="/api/v1")
    errors.json_errors(app, "/api/v1")
    client = app.test_client()
    assert (client.get("/api/v1/nothing").status_code, client.get("/api/v1/nothing").json) == (404, NOT_FOUND)
    assert client.delete("/api/v1/me").json == NOT_ALLOWED
    assert client.options("/api/v1/me").status_code == 204
    assert client.get("/api/v1/me").json == {"message": "unauthorized"}
    assert client.get("/api/v1x").mimetype == "text/html"  # not under the prefix


def test_the_problem_details_handler_of_the_docs_reshapes_every_refusal(db_name):
    from test_docs_commands import DOCS, code_blocks

    (lines,) = [
        lines for _, classes, lines in code_blocks((DOCS / "usage.rst").read_text()) if "error-handler" in classes
    ]
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, MONGODB_URI=database_uri(db_name), AUTH_BCRYPT_ROUNDS=4, TESTING=True)
    AuthService(app)
    exec("\n".join(lines), {"app": app})

    @app.post("/login")
    def login():
        from flask_auth_service_mongo import api_rest

        return api_rest.login()

    @app.get("/me")
    @auth.required()
    def me():
        return jsonify(message="ok")

    client = app.test_client()
    refused = client.get("/me")
    assert (refused.status_code, refused.mimetype) == (401, "application/problem+json")
    assert refused.json == {"type": "about:blank", "title": "unauthorized", "status": 401}
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.post("/login", json={"username": "alice"})
    assert (bad.status_code, bad.json["title"], bad.json["errors"]) == (400, "bad_request", {"password": "required"})

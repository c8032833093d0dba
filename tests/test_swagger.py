"""Swagger that documents itself: the Bearer scheme, the login and refresh
bodies, and the security and refusals of every guarded operation."""

import pytest
from conftest import PASSWORD, bearer
from flask import Blueprint
from flask_restx import Api, Resource, fields

from flask_auth_service_mongo import api_rest, auth
from flask_auth_service_mongo.state import get_state

GUARDED = [
    ("/logout", "post"),
    ("/logout-all", "post"),
    ("/sessions", "get"),
    ("/sessions/{session_id}", "delete"),
    ("/me", "get"),
    ("/reauthenticate", "post"),
]


@pytest.fixture
def document(client):
    response = client.get("/admin/swagger.json")
    assert response.status_code == 200
    return response.json


def schema_of(document: dict, ref: dict) -> dict:
    return document["definitions"][ref["$ref"].rsplit("/", 1)[1]]


def body_of(document: dict, path: str, required: bool = True) -> dict:
    """The schema of the JSON body of ``POST path`` (``required`` or not)."""
    (body,) = [p for p in document["paths"][path]["post"]["parameters"] if p["in"] == "body"]
    assert body.get("required", False) is required
    return schema_of(document, body["schema"])


def test_the_example_declares_the_bearer_scheme(document):
    scheme = document["securityDefinitions"]["Bearer"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert "security" not in document  # per operation, not global


def test_login_documents_its_body_and_its_token_answer(document):
    body = body_of(document, "/login")
    assert sorted(body["required"]) == ["password", "username"]
    assert body["properties"]["password"] == {"type": "string", "minLength": 1, "maxLength": 1024}
    answers = document["paths"]["/login"]["post"]["responses"]
    assert sorted(answers) == ["200", "400", "429", "503"]
    token_pair = schema_of(document, answers["200"]["schema"])
    data = schema_of(document, token_pair["properties"]["data"])
    assert {"access_token", "refresh_token", "token_type", "expires_in"} <= data["properties"].keys()
    assert "security" not in document["paths"]["/login"]["post"]


def test_refresh_documents_its_body_with_the_limit_of_the_keys(app, document):
    body = body_of(document, "/refresh", required=False)  # a cookie refresh sends none
    assert "required" not in body
    limit = get_state(app).tokens.max_refresh_length
    assert body["properties"]["refresh_token"]["minLength"] == 1
    assert body["properties"]["refresh_token"]["maxLength"] == limit > 400
    assert "401" in document["paths"]["/refresh"]["post"]["responses"]
    assert "security" not in document["paths"]["/refresh"]["post"]


def test_reauthenticate_documents_its_body_and_stays_guarded(document):
    assert body_of(document, "/reauthenticate")["required"] == ["password"]
    operation = document["paths"]["/reauthenticate"]["post"]
    assert {"200", "400", "401", "403", "429"} <= operation["responses"].keys()
    assert operation["responses"]["200"]["description"] != "Success"


@pytest.mark.parametrize("path, method", GUARDED)
def test_guarded_operations_need_the_bearer_scheme_and_document_401_and_403(document, path, method):
    operation = document["paths"][path][method]
    assert operation["security"] == [{"Bearer": []}]
    assert {"200", "401", "403"} <= operation["responses"].keys()
    assert "forbidden" in operation["responses"]["403"]["description"]
    assert "invalid_token" in operation["responses"]["401"]["description"]


def documented_app(make_app):
    """An app with restx operations that document themselves too."""
    blueprint = Blueprint("documented", __name__)
    api = Api(blueprint, authorizations=api_rest.AUTHORIZATIONS)
    model = api.model("Thing", {"name": fields.String()})

    @api.route("/things")
    class Things(Resource):
        @auth.required()
        def get(self):
            return {"message": "ok"}, 200

        @api.doc(description="Make a thing", responses={"401": "Log in first"})
        @auth.required(role="editor")
        @api.response(201, "Created", model)
        def post(self):
            return {"message": "ok"}, 201

        @auth.required(fresh=60)
        def put(self):
            return {"message": "ok"}, 200

        @api.hide
        @auth.required()
        def delete(self):
            return {"message": "ok"}, 200

    app = make_app()
    app.register_blueprint(blueprint, url_prefix="/documented")
    return app


def test_the_docs_of_a_guarded_operation_merge_with_its_own(make_app):
    document = documented_app(make_app).test_client().get("/documented/swagger.json").json
    operations = document["paths"]["/things"]
    # Any role: no 403 to document.
    assert sorted(operations["get"]["responses"]) == ["200", "401", "503"]
    assert operations["get"]["security"] == [{"Bearer": []}]
    # What the operation documents itself wins, above or below the guard; a
    # success documented below it replaces the default 200.
    post = operations["post"]
    assert post["description"] == "Make a thing" and post["security"] == [{"Bearer": []}]
    assert sorted(post["responses"]) == ["201", "401", "403", "503"]
    assert post["responses"]["401"]["description"] == "Log in first"
    assert post["responses"]["201"]["schema"] == {"$ref": "#/definitions/Thing"}
    assert "delete" not in operations  # hidden stays hidden
    assert "fresh_login_required" in operations["put"]["responses"]["401"]["description"]
    assert "fresh_login_required" not in operations["get"]["responses"]["401"]["description"]


def test_a_documented_guarded_operation_still_guards(make_app, make_user):
    client = documented_app(make_app).test_client()
    make_user()
    token = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    assert client.get("/documented/things").status_code == 401
    assert client.get("/documented/things", headers=bearer(token)).status_code == 200
    assert client.post("/documented/things", headers=bearer(token)).status_code == 403


def test_the_example_groups_its_operations_and_starts_with_the_bearer_flow(document):
    assert "Start with POST /login" in document["info"]["description"]
    tags = [tag["name"] for tag in document["tags"]]
    assert tags[0] == "sign-in" and "default" not in tags
    assert document["paths"]["/login"]["post"]["tags"] == ["sign-in"]
    assert document["paths"]["/sessions"]["get"]["tags"] == ["account"]


def test_unsafe_guarded_operations_document_csrf_failed_and_every_guarded_one_a_200_schema(document):
    for path, method in GUARDED:
        responses = document["paths"][path][method]["responses"]
        assert "schema" in responses["200"], (path, method)
        assert ("csrf_failed" in responses.get("403", {}).get("description", "")) is (method != "get"), path

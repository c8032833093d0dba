"""schemathesis over the example app's OpenAPI document, in-process (WSGI):
no request, valid or not, with or without a token, answers a 5xx."""

import pytest
import schemathesis
from conftest import PASSWORD, bearer
from hypothesis import HealthCheck, given, settings

# The document describes the bodies (api_rest.document) and the Bearer
# scheme; add the Authorization header as a parameter of every operation so
# that the fuzzer sends odd ones to the unguarded operations too.
AUTHORIZATION = {"name": "Authorization", "in": "header", "type": "string", "required": False}


def described(document: dict) -> dict:
    """The app's document with the Authorization header added."""
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if method != "parameters":
                operation.setdefault("parameters", []).append(AUTHORIZATION)
    return document


@pytest.fixture
def app(make_app):
    return make_app(AUTH_WEBAUTHN_RP_ID="localhost", AUTH_WEBAUTHN_ORIGINS="http://localhost")


@pytest.fixture
def operations(app, make_user):
    """Every operation of the app's (described) document, bound to the app."""
    make_user(username="admin")
    document = app.test_client().get("/admin/swagger.json").json
    assert document["swagger"] == "2.0" and "/login" in document["paths"]
    schema = schemathesis.openapi.from_dict(described(document))
    schema.app = app
    return {op.label: op for op in (result.ok() for result in schema.get_all_operations())}


# schemathesis' own pytest integration does not support pytest 9 yet: drive
# its hypothesis strategies directly, one test per operation.
LABELS = [
    "POST /confirm-email",
    "POST /email",
    "POST /forgot-password",
    "POST /login",
    "POST /logout",
    "POST /logout-all",
    "GET /me",
    "GET /events",
    "POST /reauthenticate",
    "POST /refresh",
    "POST /reset-password",
    "GET /sessions",
    "DELETE /sessions/{session_id}",
    "GET /tokens",
    "POST /tokens",
    "DELETE /tokens/{token_id}",
    "GET /users",
    "GET /passkeys",
    "DELETE /passkeys/{passkey_id}",
    "POST /passkeys/register/begin",
    "POST /passkeys/register/finish",
    "POST /passkeys/login/begin",
    "POST /passkeys/login/finish",
    "POST /login/mfa",
    "GET /mfa",
    "POST /mfa/totp",
    "POST /mfa/totp/confirm",
    "POST /mfa/disable",
    "POST /mfa/recovery-codes",
]
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def test_the_document_lists_every_operation(operations):
    assert sorted(operations) == sorted(LABELS)


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "with a token"])
def test_no_operation_answers_a_server_error(operations, client, label, authenticated):
    headers = {}
    if authenticated:
        answer = client.post("/admin/login", json={"username": "admin", "password": PASSWORD})
        headers = bearer(answer.json["data"]["token"])

    @FUZZ
    @given(case=operations[label].as_strategy())
    def check(case):
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.formatted_path, response.status_code)

    check()

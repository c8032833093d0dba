"""POST /login: the answers of the HTTP table."""

import jwt
import pytest
from conftest import PASSWORD, SECRET, bearer

from flask_auth_service_mongo.models import Session


def test_right_credentials_and_role_answer_the_token_pair(client, make_user):
    make_user()
    response = client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json
    assert body["message"] == "ok"
    data = body["data"]
    assert set(data) == {
        "token",
        "access_token",
        "token_type",
        "refresh_token",
        "expires_in",
        "expires_at",
        "change_password",
        "role",
    }
    assert data["token"] == data["access_token"]
    assert data["token_type"] == "Bearer"
    assert data["expires_in"] == 60
    assert data["change_password"] is False
    assert data["role"] == "admin"
    claims = jwt.decode(data["token"], SECRET, algorithms=["HS256"])
    assert claims["type"] == "access"
    assert claims["exp"] - claims["iat"] == 3600
    assert data["expires_at"] == claims["exp"]  # Unix seconds, beside expires_in in minutes
    refresh = jwt.decode(data["refresh_token"], SECRET, algorithms=["HS256"])
    assert refresh["type"] == "refresh"
    assert refresh["exp"] - refresh["iat"] == 10080 * 60
    assert refresh["sid"] == claims["sid"]
    stored = Session.objects.get(id=claims["sid"])
    assert str(stored.user.pk) == claims["sub"]
    assert stored.refresh_jti == refresh["jti"]


def test_username_is_case_insensitive(client, make_user):
    make_user(username="Alice")
    response = client.post("/admin/login", json={"username": "ALICE", "password": PASSWORD})
    assert response.status_code == 200


def test_each_login_opens_its_own_session(client, make_user, login):
    make_user()
    first, second = login(), login()
    assert first["refresh_token"] != second["refresh_token"]
    assert Session.objects.count() == 2


@pytest.mark.parametrize(
    "case",
    ["wrong password", "unknown user", "inactive user", "role not allowed", "password over 72 bytes"],
)
def test_every_login_failure_answers_bad_credentials_alike(client, make_user, case):
    make_user(active=case != "inactive user", role="viewer" if case == "role not allowed" else "admin")
    body = {"username": "alice", "password": PASSWORD}
    if case == "wrong password":
        body["password"] = "wrong password"
    elif case == "unknown user":
        body["username"] = "mallory"
    elif case == "password over 72 bytes":
        body["password"] = PASSWORD + "x" * 80
    response = client.post("/admin/login", json=body)
    assert response.status_code == 400
    assert response.json == {"message": "bad_credentials"}
    assert Session.objects.count() == 0


@pytest.mark.parametrize(
    "payload, content_type",
    [
        (b"not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"text"', "application/json"),
        (b"null", "application/json"),
        (b"", "application/json"),
        (b'{"username": "alice"}', "application/json"),
        (b'{"password": "x"}', "application/json"),
        (b'{"username": 1, "password": "x"}', "application/json"),
        (b'{"username": "alice", "password": ["x"]}', "application/json"),
        (b'{"username": {"$ne": null}, "password": {"$ne": null}}', "application/json"),
        (b'{"username": "alice", "password": "x", "admin": true}', "application/json"),
        (b'{"username": "", "password": ""}', "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"[" * 100000 + b"]" * 100000, "application/json"),
    ],
)
def test_malformed_login_bodies_answer_bad_request_never_500(client, make_user, payload, content_type):
    make_user()
    response = client.post("/admin/login", data=payload, content_type=content_type)
    assert response.status_code == 400
    assert response.json["message"] == "bad_request"
    assert isinstance(response.json["errors"], dict)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_a_body_not_sent_as_json_is_a_bad_request_even_with_the_right_password(client, make_user, content_type):
    make_user()
    body = b'{"username": "alice", "password": "correct horse"}'
    response = client.post("/admin/login", data=body, content_type=content_type)
    assert (response.status_code, response.json["message"]) == (400, "bad_request")
    assert response.json["errors"] == {"Content-Type": "must be application/json"}


def test_json_with_a_charset_is_json(client, make_user):
    make_user()
    body = b'{"username": "alice", "password": "correct horse"}'
    response = client.post("/admin/login", data=body, content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_bad_request_names_the_fields_at_fault(client):
    response = client.post("/admin/login", json={"username": 3, "extra": 1})
    assert response.json["errors"] == {"username": "must be a string", "password": "required", "extra": "unknown field"}


def test_oversized_body_is_a_bad_request(client):
    response = client.post("/admin/login", json={"username": "a" * 20000, "password": "x"})
    assert response.status_code == 400
    assert response.json == {"message": "bad_request", "errors": {"body": "too large"}}


def test_login_accepts_a_list_of_roles(make_app, make_user):
    from flask_auth_service_mongo import api_rest

    app = make_app()

    @app.post("/multi/login")
    def multi_login():
        return api_rest.login(role=["admin", "editor"])

    make_user(role="editor")
    client = app.test_client()
    response = client.post("/multi/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json["data"]["role"] == "editor"


def test_login_reports_the_change_password_flag(client, make_user, login):
    make_user(change_password=True)
    assert login()["change_password"] is True


def test_guarded_call_with_the_new_token_passes(client, make_user, login):
    make_user()
    token = login()["token"]
    response = client.get("/admin/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json == {"message": "ok", "data": {"username": "alice", "role": "admin"}}

"""Token utilities for custom views: parse, verify, log a user out everywhere."""

import pytest
from conftest import bearer

from flask_auth_service_mongo import auth, errors
from flask_auth_service_mongo.models import User


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("  Bearer   abc  ", "abc"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Basic abc", None),
        ("Bearer a b", None),
        ("Bearer " + "a" * 9000, None),
        (123, None),
    ],
)
def test_parse_authorization_header_takes_only_bearer_tokens(value, expected):
    assert auth.parse_authorization_header(value) == expected


def test_verify_token_returns_the_active_user(app, make_user, login):
    make_user()
    token = login()["token"]
    with app.test_request_context("/"):
        user = auth.verify_token(token)
    assert isinstance(user, User) and user.username == "alice"


@pytest.mark.parametrize(
    "token, error",
    [("", errors.Unauthorized), ("a.b.c", errors.InvalidToken), ("garbage", errors.InvalidToken)],
)
def test_verify_token_raises_the_matching_auth_error(app, token, error):
    with app.test_request_context("/"), pytest.raises(error) as raised:
        auth.verify_token(token)
    assert isinstance(raised.value, errors.AuthError)
    assert raised.value.status == 401


def test_verify_token_refuses_a_revoked_session(app, client, make_user, login):
    make_user()
    token = login()["token"]
    client.post("/admin/logout", headers=bearer(token))
    with app.test_request_context("/"), pytest.raises(errors.Unauthorized) as raised:
        auth.verify_token(token)
    assert raised.value.message == "unauthorized"


def test_logout_user_ends_every_session_and_counts_them(app, client, make_user, login):
    user = make_user()
    tokens = [login()["token"], login()["token"]]
    with app.app_context():
        assert auth.logout_user(user) == 2
    for token in tokens:
        assert client.get("/admin/me", headers=bearer(token)).status_code == 401


def test_each_error_class_carries_its_code_and_status():
    table = {
        errors.Unauthorized: (401, "unauthorized"),
        errors.InvalidToken: (401, "invalid_token"),
        errors.TokenExpired: (401, "signature_expired"),
        errors.Forbidden: (403, "forbidden"),
        errors.PasswordChangeRequired: (401, "password_change_required"),
        errors.BadRequest: (400, "bad_request"),
        errors.BadCredentials: (400, "bad_credentials"),
        errors.ServiceUnavailable: (503, "service_unavailable"),
    }
    for cls, (status, message) in table.items():
        assert issubclass(cls, errors.AuthError)
        assert (cls.status, cls.message) == (status, message)
    assert (errors.TooManyAttempts.status, errors.TooManyAttempts.message) == (429, "too_many_attempts")

"""Hostile input never gives a 500 and never a pass (see also test_login and
test_guard, which cover the plain malformed bodies and headers)."""

import base64
import io
import json

import jwt
import pytest
from conftest import PASSWORD, SECRET, bearer

from flask_auth_service_mongo.models import Session

GUARDED = ["/admin/me", "/plain/me", "/admin/sessions"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims: dict) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(b'sig')}"


@pytest.fixture
def claims(pair):
    return jwt.decode(pair["token"], SECRET, algorithms=["HS256"])


def signed(claims: dict, **headers) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256", headers=headers or None)


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice\x00", "password": PASSWORD},
        {"username": "alice", "password": PASSWORD + "\x00"},
        {"username": "\x00", "password": "\x00"},
        {"username": ".*", "password": PASSWORD},
        {"username": "^alice$", "password": PASSWORD},
        {"username": "alice", "password": "correct horse\n"},
        {"username": "ALİCE", "password": PASSWORD},
    ],
)
def test_nul_bytes_and_pattern_like_usernames_are_bad_credentials(client, pair, body):
    response = client.post("/admin/login", json=body)
    assert (response.status_code, response.json) == (400, {"message": "bad_credentials"})


@pytest.mark.parametrize(
    "payload",
    [
        b'{"username": "\\ud800", "password": "x"}',
        b'{"username": "alice", "password": "\\udfff"}',
        b'{"username": ' + b"[" * 5000 + b"]" * 5000 + b', "password": "x"}',
        b'{"username": {"$where": "sleep(1000)"}, "password": "x"}',
        b'{"username": {"$regex": ".*"}, "password": {"$exists": true}}',
        b'{"username": "alice", "password": 1e999}',
        b'{"username": "alice", "password": ' + b"9" * 5000 + b"}",
        b'{"username": "alice", "password": "x", "$where": "1"}',
        b'\xef\xbb\xbf{"username": "alice", "password": "x"}',
        b'{"username": "alice", "password": "x"',
        b"\x00" * 100,
    ],
)
def test_hostile_login_bodies_are_bad_requests(client, pair, payload):
    response = client.post("/admin/login", data=payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json["message"] in ("bad_request", "bad_credentials")
    assert Session.objects.count() == 1


def test_a_body_streamed_without_content_length_is_still_limited(client, pair):
    body = io.BytesIO(b'{"username": "alice", "password": "' + b"x" * 100_000 + b'"}')
    response = client.post(
        "/admin/login", input_stream=body, content_type="application/json", headers={"Transfer-Encoding": "chunked"}
    )
    assert (response.status_code, response.json["message"]) == (400, "bad_request")


def hostile_tokens(claims: dict) -> dict:
    header = {"alg": "HS256", "typ": "JWT"}
    return {
        "alg none": unsigned({"alg": "none", "typ": "JWT"}, claims),
        "alg None": unsigned({"alg": "None"}, claims),
        "alg HS512": jwt.encode(claims, SECRET + SECRET, algorithm="HS512"),
        "header not an object": f"{b64(b'[1]')}.{b64(json.dumps(claims).encode())}.{b64(b'x')}",
        "header deeply nested": f"{b64(b'[' * 3000 + b']' * 3000)}.{b64(b'{}')}.{b64(b'x')}",
        "header not json": f"{b64(b'{not json')}.{b64(b'{}')}.{b64(b'x')}",
        "crit header": signed(claims, crit=["exp"]),
        "kid not a string": unsigned({**header, "kid": 1}, claims),
        "sub not a string": signed({**claims, "sub": 123}),
        "sub not an id": signed({**claims, "sub": "not-an-object-id"}),
        "sid a list": signed({**claims, "sid": [claims["sid"]]}),
        "sid an operator": signed({**claims, "sid": {"$ne": None}}),
        "jti an object": signed({**claims, "jti": {}}),
        "type a list": signed({**claims, "type": ["access"]}),
        "exp a string": signed({**claims, "exp": str(claims["exp"])}),
        "exp infinite": signed({**claims, "exp": float("inf")}),
        "exp a list": signed({**claims, "exp": [claims["exp"]]}),
        "exp true": signed({**claims, "exp": True}),
        "iat a string": signed({**claims, "iat": "yesterday"}),
        "payload a list": f"{b64(json.dumps(header).encode())}.{b64(b'[1]')}.x",
        "four segments": signed(claims) + ".extra",
        "not base64": "!!!.???.***",
        "non-ascii": "é.é.é",
        "empty segments": "..",
    }


TOKEN_CASES = [
    "alg none",
    "alg None",
    "alg HS512",
    "header not an object",
    "header deeply nested",
    "header not json",
    "crit header",
    "kid not a string",
    "sub not a string",
    "sub not an id",
    "sid a list",
    "sid an operator",
    "jti an object",
    "type a list",
    "exp a string",
    "exp infinite",
    "exp a list",
    "exp true",
    "iat a string",
    "payload a list",
    "four segments",
    "not base64",
    "non-ascii",
    "empty segments",
]


@pytest.mark.parametrize("case", TOKEN_CASES)
@pytest.mark.parametrize("path", GUARDED)
def test_hostile_access_tokens_are_refused_with_401(client, claims, case, path):
    token = hostile_tokens(claims)[case]
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json["message"] in ("invalid_token", "unauthorized", "signature_expired")


@pytest.mark.parametrize("case", TOKEN_CASES)
def test_hostile_tokens_cannot_log_out(client, claims, case):
    response = client.post("/admin/logout", headers={"Authorization": f"Bearer {hostile_tokens(claims)[case]}"})
    assert response.status_code == 401
    assert Session.objects.count() == 1


@pytest.mark.parametrize("case", TOKEN_CASES)
def test_hostile_refresh_tokens_are_refused(client, pair, case):
    refresh_claims = jwt.decode(pair["refresh_token"], SECRET, algorithms=["HS256"])
    token = hostile_tokens(refresh_claims)[case]
    response = client.post("/admin/refresh", json={"refresh_token": token})
    assert response.status_code in (400, 401)
    assert response.json["message"] in ("bad_request", "invalid_token", "unauthorized", "signature_expired")


@pytest.mark.parametrize(
    "refresh_token",
    ["\x00", "\ud800", "a" * 5000, "Bearer x", " ", "null"],
)
def test_odd_refresh_token_strings_are_refused(client, pair, refresh_token):
    response = client.post("/admin/refresh", json={"refresh_token": refresh_token})
    assert response.status_code in (400, 401)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer " + "a" * 100_000,
        "Bearer\ttoken",
        "Bearer  token",
        "Bearer \x7f",
        "Bearer é.é.é",
        "Bearer ,",
        "Negotiate " + "A" * 100,
        "bearer",
        "Bearer token, Bearer token",
    ],
)
@pytest.mark.parametrize("path", GUARDED + ["/admin/logout"])
def test_odd_authorization_headers_are_refused(client, pair, header, path):
    method = client.post if path == "/admin/logout" else client.get
    response = method(path, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["message"] in ("invalid_token", "unauthorized")


def test_a_valid_token_with_a_stranger_session_id_is_unauthorized(client, claims):
    token = signed({**claims, "sid": "someone-else's-session"})
    response = client.get("/admin/me", headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})


def test_every_login_failure_answers_with_the_same_bytes_and_headers(client, make_user):
    make_user()
    make_user(username="inactive", active=False)
    make_user(username="viewer", role="viewer")
    answers = [
        client.post("/admin/login", json={"username": username, "password": password})
        for username, password in [
            ("alice", "wrong password"),
            ("nobody", PASSWORD),
            ("inactive", PASSWORD),
            ("viewer", PASSWORD),
            ("alice", PASSWORD + "x" * 80),
        ]
    ]
    first = answers[0]
    assert (first.status_code, first.json) == (400, {"message": "bad_credentials"})
    for answer in answers[1:]:
        assert (answer.status_code, answer.get_data(), dict(answer.headers)) == (
            first.status_code,
            first.get_data(),
            dict(first.headers),
        )

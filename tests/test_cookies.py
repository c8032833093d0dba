"""Browser sessions: tokens in HttpOnly cookies, the CSRF rule, cookies cleared."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, SECRET, bearer, database_uri, graphql
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask import Flask

from flask_auth_service_mongo import AuthService
from flask_auth_service_mongo.errors import ConfigError
from flask_auth_service_mongo.state import get_state

BOTH = "headers,cookies"
COOKIES = ("access_token", "refresh_token", "csrf_token")
UPDATE_PASSWORD = """mutation ($input: UpdatePasswordInput!) { update_password(input: $input) { ok } }"""


def set_cookies(response) -> dict[str, dict]:
    """name -> {"value", and each attribute lower-cased} of the Set-Cookie headers."""
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        cookie = {"value": value}
        for attribute in attributes:
            key, _, val = attribute.partition("=")
            cookie[key.lower()] = val if val else True
        found[name] = cookie
    return found


def cleared(response) -> bool:
    cookies = set_cookies(response)
    return all(cookies.get(name, {}).get("max-age") == "0" and not cookies[name]["value"] for name in COOKIES)


@pytest.fixture
def cookie_app(make_app):
    return make_app(AUTH_TOKEN_LOCATION=BOTH)


@pytest.fixture
def browser(cookie_app, alice):
    """A client whose login set the cookies: ``(client, login response)``."""
    client = cookie_app.test_client()
    response = client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.json
    return client, response


def csrf(client) -> dict:
    return {"X-CSRF-Token": client.get_cookie("csrf_token").value}


def live_sessions(app, user) -> int:
    with app.app_context():
        return get_state().store.sessions.count_documents({"user": user.pk})


# -- cookies set by login and refresh


def test_login_sets_three_cookies_with_their_attributes(browser):
    _, response = browser
    cookies = set_cookies(response)
    access, refresh, token = cookies["access_token"], cookies["refresh_token"], cookies["csrf_token"]
    assert access["httponly"] and access["secure"] and access["path"] == "/" and access["max-age"] == "3600"
    assert access["samesite"] == "Lax"
    assert refresh["httponly"] and refresh["secure"] and refresh["path"] == "/"
    assert 10080 * 60 - 5 <= int(refresh["max-age"]) <= 10080 * 60
    assert "httponly" not in token and token["secure"] and token["path"] == "/"
    assert int(token["max-age"]) == int(refresh["max-age"])
    data = response.json["data"]
    assert data["csrf_token"] == token["value"]
    assert data["access_token"] == access["value"] and data["refresh_token"] == refresh["value"]
    assert "domain" not in access


def test_cookie_attributes_follow_the_config(make_app, alice):
    app = make_app(
        AUTH_TOKEN_LOCATION=["cookies"],
        AUTH_COOKIE_SAMESITE="strict",
        AUTH_COOKIE_DOMAIN="example.com",
        AUTH_REFRESH_COOKIE_PATH="/admin/refresh",
        AUTH_TOKEN_EXPIRE_MINUTES=5,
    )
    response = app.test_client().post("/admin/login", json={"username": "alice", "password": PASSWORD})
    cookies = set_cookies(response)
    assert {c["samesite"] for c in cookies.values()} == {"Strict"}
    assert {c["domain"] for c in cookies.values()} == {"example.com"}
    assert cookies["refresh_token"]["path"] == "/admin/refresh" and cookies["access_token"]["path"] == "/"
    assert cookies["access_token"]["max-age"] == "300"


def test_cookies_alone_leave_token_strings_out_of_the_body(make_app, alice):
    app = make_app(AUTH_TOKEN_LOCATION="cookies")
    client = app.test_client()
    data = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    assert not {"token", "access_token", "refresh_token"} & set(data)
    assert data["token_type"] == "Bearer" and data["expires_in"] == 60 and data["role"] == "admin"
    assert data["csrf_token"] == client.get_cookie("csrf_token").value
    refreshed = client.post("/admin/refresh", json={}, headers=csrf(client))
    assert refreshed.status_code == 200, refreshed.json
    assert not {"token", "access_token", "refresh_token"} & set(refreshed.json["data"])


def test_a_plain_flask_view_sets_the_cookies_too(cookie_app, alice):
    client = cookie_app.test_client()
    response = client.post("/plain/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and set(set_cookies(response)) == set(COOKIES)
    assert client.get("/plain/me").json == {"message": "ok", "username": "alice"}


def test_header_mode_sets_no_cookie_and_reads_none(app, alice, login):
    client = app.test_client()
    response = client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert "Set-Cookie" not in response.headers and "csrf_token" not in response.json["data"]
    client.set_cookie("access_token", response.json["data"]["access_token"])
    assert client.get("/admin/me").status_code == 401


# -- where the token is read


def test_a_cookie_authenticates_safe_requests_without_csrf(browser):
    client, _ = browser
    assert client.get("/admin/me").json["data"]["username"] == "alice"
    assert client.get("/plain/me").status_code == 200
    assert client.head("/admin/me").status_code == 200


def test_the_bearer_header_wins_and_needs_no_csrf(browser, make_user, cookie_app):
    client, _ = browser
    make_user("bob")
    bob = cookie_app.test_client().post("/admin/login", json={"username": "bob", "password": PASSWORD}).json["data"]
    assert client.get("/admin/me", headers=bearer(bob["access_token"])).json["data"]["username"] == "bob"
    assert client.post("/admin/logout", headers=bearer(bob["access_token"])).status_code == 200
    assert client.get("/admin/me").json["data"]["username"] == "alice"  # the cookie session lives on


def test_cookies_alone_ignore_the_bearer_header(make_app, alice, login):
    app = make_app(AUTH_TOKEN_LOCATION="cookies")
    data = app.test_client().post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    with app.test_client() as other:
        assert other.get("/admin/me", headers={"Authorization": "Bearer x"}).status_code == 401
    assert "access_token" not in data


def test_an_odd_authorization_header_falls_back_to_the_cookie(browser):
    client, _ = browser
    assert client.get("/admin/me", headers={"Authorization": "Basic YWxpY2U6eA=="}).status_code == 200


# -- the CSRF rule


@pytest.mark.parametrize("headers", [{}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": "é"}])
def test_unsafe_cookie_requests_without_the_csrf_token_are_refused(browser, cookie_app, alice, headers):
    client, _ = browser
    response = client.post("/admin/logout", headers=headers)
    assert response.status_code == 403 and response.json == {"message": "csrf_failed"}
    assert "Set-Cookie" not in response.headers  # no forced sign-out either
    assert client.get("/admin/me").status_code == 200
    assert live_sessions(cookie_app, alice) == 1


def test_every_unsafe_method_needs_the_csrf_token(browser):
    client, _ = browser
    session_id = client.get("/admin/sessions").json["data"][0]["id"]
    assert client.delete(f"/admin/sessions/{session_id}").json == {"message": "csrf_failed"}
    assert client.post("/admin/logout-all", json={}).status_code == 403
    assert client.options("/admin/me").status_code == 204  # safe: no CSRF token needed


def test_a_csrf_token_of_another_session_is_refused(browser, cookie_app):
    client, _ = browser
    other = cookie_app.test_client()
    other.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert csrf(other) != csrf(client)
    assert client.post("/admin/logout", headers=csrf(other)).json == {"message": "csrf_failed"}
    assert client.post("/admin/logout", headers=csrf(client)).status_code == 200
    assert other.get("/admin/me").status_code == 200


def test_the_csrf_token_is_the_sessions_in_every_process(browser, make_app):
    client, response = browser
    twin = make_app(AUTH_TOKEN_LOCATION=BOTH).test_client()  # same keys, another app
    for name in ("access_token", "csrf_token"):
        twin.set_cookie(name, client.get_cookie(name).value)
    assert twin.post("/admin/logout-all", headers=csrf(client)).status_code == 200


def test_a_csrf_token_under_an_older_secret_still_passes(db_name, make_user):
    old, new = "o" * 40, "n" * 40
    first = make_app_with(db_name, AUTH_SECRET_KEY=old)
    make_user_in(first, make_user)
    client = first.test_client()
    client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    rotated = make_app_with(db_name, AUTH_SECRET_KEY=new, AUTH_VERIFY_KEYS=[old])
    twin = rotated.test_client()
    for name in ("access_token", "csrf_token"):
        twin.set_cookie(name, client.get_cookie(name).value)
    assert twin.post("/admin/logout", headers=csrf(client)).status_code == 200


def test_the_csrf_rule_holds_with_a_private_signing_key(db_name, make_user):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    app = make_app_with(db_name, AUTH_ALGORITHM="ES256", AUTH_PRIVATE_KEY=pem.decode())
    make_user_in(app, make_user)
    client = app.test_client()
    client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert client.post("/admin/logout").status_code == 403
    assert client.post("/admin/logout", headers=csrf(client)).status_code == 200


def private_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key) -> str:
    public = key.public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def carry_cookies(source, target) -> None:
    """Put ``source``'s three cookies into ``target`` (the browser, after a deploy)."""
    for name in COOKIES:
        target.set_cookie(name, source.get_cookie(name).value)


def assert_cookie_session_survives(client, rotated) -> str:
    """Cookie refresh and cookie logout work on the rotated app with the CSRF
    token of before; the token the refresh answered."""
    twin = rotated.test_client()
    carry_cookies(client, twin)
    before = csrf(client)
    refreshed = twin.post("/admin/refresh", json={}, headers=before)
    assert refreshed.status_code == 200, refreshed.json
    assert refreshed.json["data"]["csrf_token"] == csrf(twin)["X-CSRF-Token"]
    response = twin.post("/admin/logout", headers=before)
    assert response.status_code == 200 and cleared(response)
    return refreshed.json["data"]["csrf_token"]


ROTATING_KEYS = {
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}


@pytest.mark.parametrize("algorithm", sorted(ROTATING_KEYS))
def test_cookie_sessions_survive_a_rotation_of_the_private_key(db_name, make_user, algorithm):
    old, new = ROTATING_KEYS[algorithm](), ROTATING_KEYS[algorithm]()
    config = {"AUTH_ALGORITHM": algorithm, "AUTH_TOKEN_LOCATION": BOTH}
    first = make_app_with(db_name, AUTH_PRIVATE_KEY=private_pem(old), **config)
    make_user_in(first, make_user)
    client = first.test_client()
    assert client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    # The old key is kept for verification only, as its public half.
    rotated = make_app_with(db_name, AUTH_PRIVATE_KEY=private_pem(new), AUTH_VERIFY_KEYS=[public_pem(old)], **config)
    # Derived from the app's secret, which the rotation leaves alone: the token does not change.
    assert assert_cookie_session_survives(client, rotated) == csrf(client)["X-CSRF-Token"]


def test_cookie_sessions_survive_a_rotation_of_the_hmac_secret(db_name, make_user):
    old, new = "o" * 40, "n" * 40
    first = make_app_with(db_name, AUTH_SECRET_KEY=old, AUTH_TOKEN_LOCATION=BOTH)
    make_user_in(first, make_user)
    client = first.test_client()
    assert client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    rotated = make_app_with(db_name, AUTH_SECRET_KEY=new, AUTH_VERIFY_KEYS=[old], AUTH_TOKEN_LOCATION=BOTH)
    assert_cookie_session_survives(client, rotated)


def test_without_a_secret_the_old_private_key_keeps_the_csrf_tokens(db_name, make_user, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    config = {"SECRET_KEY": None, "AUTH_ALGORITHM": "ES256", "AUTH_TOKEN_LOCATION": BOTH}
    first = make_app_with(db_name, AUTH_PRIVATE_KEY=private_pem(old), **config)
    make_user_in(first, make_user)
    client = first.test_client()
    assert client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    # Only the public half kept: tokens verify, the CSRF tokens cannot (public keys are public).
    public_only = make_app_with(
        db_name, AUTH_PRIVATE_KEY=private_pem(new), AUTH_VERIFY_KEYS=[public_pem(old)], **config
    )
    twin = public_only.test_client()
    carry_cookies(client, twin)
    assert twin.get("/admin/me").status_code == 200
    assert twin.post("/admin/logout", headers=csrf(client)).json == {"message": "csrf_failed"}
    # The old private key kept (only its public half verifies, only that is published).
    kept = make_app_with(db_name, AUTH_PRIVATE_KEY=private_pem(new), AUTH_VERIFY_KEYS=[private_pem(old)], **config)
    assert kept.test_client().get("/.well-known/jwks.json").json["keys"][1].keys().isdisjoint({"d"})
    assert_cookie_session_survives(client, kept)


def make_app_with(db_name, **config):
    from examples.app import create_app

    settings = {"TESTING": True, "SECRET_KEY": SECRET, "MONGODB_URI": database_uri(db_name), "AUTH_BCRYPT_ROUNDS": 4}
    return create_app({**settings, **config})


def make_user_in(app, make_user):
    with app.app_context():
        make_user()


# -- refresh from the cookie


def test_refresh_takes_the_cookie_with_the_csrf_token(browser):
    client, login = browser
    for body in ({"json": {}}, {}):
        before = client.get_cookie("refresh_token").value
        response = client.post("/admin/refresh", headers=csrf(client), **body)
        assert response.status_code == 200, response.json
        cookies = set_cookies(response)
        assert cookies["refresh_token"]["value"] not in (before, "")
        assert (
            cookies["access_token"]["httponly"] and response.json["data"]["csrf_token"] == csrf(client)["X-CSRF-Token"]
        )
    assert client.get("/admin/me").status_code == 200


def test_refresh_from_the_cookie_without_csrf_is_refused_and_spends_nothing(browser):
    client, _ = browser
    response = client.post("/admin/refresh", json={})
    assert response.status_code == 403 and response.json == {"message": "csrf_failed"}
    assert "Set-Cookie" not in response.headers
    assert client.post("/admin/refresh", json={}, headers=csrf(client)).status_code == 200


def test_a_refresh_token_in_the_body_wins_over_the_cookie(browser, cookie_app):
    client, login = browser
    other = cookie_app.test_client().post("/admin/login", json={"username": "alice", "password": PASSWORD}).json
    response = client.post("/admin/refresh", json={"refresh_token": other["data"]["refresh_token"]})
    assert response.status_code == 200
    assert response.json["data"]["csrf_token"] == other["data"]["csrf_token"]


def test_a_refused_refresh_from_the_cookie_clears_the_cookies(browser, cookie_app, alice):
    client, login = browser
    spent = client.get_cookie("refresh_token").value
    assert client.post("/admin/refresh", json={}, headers=csrf(client)).status_code == 200
    client.set_cookie("refresh_token", spent)
    response = client.post("/admin/refresh", json={}, headers=csrf(client))
    assert response.status_code == 401 and response.json == {"message": "unauthorized"}
    assert cleared(response)
    assert client.get_cookie("access_token") is None
    assert live_sessions(cookie_app, alice) == 0  # reuse detection ended the session


def test_a_refused_refresh_token_of_the_body_leaves_the_cookies(browser):
    client, _ = browser
    response = client.post("/admin/refresh", json={"refresh_token": "not-a-token"})
    assert response.status_code == 401 and "Set-Cookie" not in response.headers
    assert client.get("/admin/me").status_code == 200


def test_refresh_without_body_nor_cookie_is_a_bad_request(cookie_app):
    assert cookie_app.test_client().post("/admin/refresh").json["message"] == "bad_request"


# -- signing out clears the cookies


def test_logout_clears_the_three_cookies(browser, cookie_app, alice):
    client, _ = browser
    response = client.post("/admin/logout", headers=csrf(client))
    assert response.status_code == 200 and response.json == {"message": "ok"}
    assert cleared(response)
    assert {c["path"] for c in set_cookies(response).values()} == {"/"}
    assert client.get_cookie("access_token") is None and client.get("/admin/me").status_code == 401
    assert live_sessions(cookie_app, alice) == 0


def test_logout_everywhere_clears_the_cookies(browser, cookie_app, alice):
    client, _ = browser
    cookie_app.test_client().post("/admin/login", json={"username": "alice", "password": PASSWORD})
    response = client.post("/admin/logout-all", headers=csrf(client))
    assert response.json == {"message": "ok", "data": {"ended": 2}} and cleared(response)


def test_revoking_the_current_session_clears_the_cookies_another_does_not(browser, cookie_app):
    client, _ = browser
    cookie_app.test_client().post("/admin/login", json={"username": "alice", "password": PASSWORD})
    sessions = client.get("/admin/sessions").json["data"]
    other = next(s["id"] for s in sessions if not s["current"])
    current = next(s["id"] for s in sessions if s["current"])
    response = client.delete(f"/admin/sessions/{other}", headers=csrf(client))
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    response = client.delete(f"/admin/sessions/{current}", headers=csrf(client))
    assert response.status_code == 200 and cleared(response)


def test_cleared_cookies_keep_the_refresh_path(make_app, alice):
    app = make_app(AUTH_TOKEN_LOCATION=BOTH, AUTH_REFRESH_COOKIE_PATH="/admin/refresh")
    client = app.test_client()
    client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    response = client.post("/admin/logout", headers=csrf(client))
    assert set_cookies(response)["refresh_token"]["path"] == "/admin/refresh" and cleared(response)


# -- GraphQL under the same rules


def test_graphql_mutations_by_cookie_need_the_csrf_token(browser):
    client, _ = browser
    variables = {
        "input": {"current_password": PASSWORD, "new_password": "new password", "password_confirmed": "new password"}
    }
    body = {"query": UPDATE_PASSWORD, "variables": variables}
    refused = client.post("/admin/graphql", json=body)
    assert refused.json["errors"][0]["message"] == "csrf_failed"
    assert refused.json["data"] == {"update_password": None}
    assert (
        client.post("/admin/graphql", json={"query": "{ me { username } }"}).json["errors"][0]["message"]
        == "csrf_failed"
    )
    answer = client.post("/admin/graphql", json=body, headers=csrf(client))
    assert answer.json == {"data": {"update_password": {"ok": True}}}
    assert client.post("/admin/login", json={"username": "alice", "password": "new password"}).status_code == 200


def test_graphql_refresh_sets_the_cookies(browser, cookie_app):
    client, login = browser
    query = "mutation ($t: String!) { refresh_token(input: {refresh_token: $t}) { access_token csrf_token } }"
    response = graphql(cookie_app.test_client(), query, variables={"t": login.json["data"]["refresh_token"]})
    data = response.json["data"]["refresh_token"]
    cookies = set_cookies(response)
    assert cookies["access_token"]["value"] == data["access_token"] and cookies["access_token"]["httponly"]
    assert data["csrf_token"] == cookies["csrf_token"]["value"]


def test_graphql_with_a_bearer_header_needs_no_csrf(app, pair):
    assert (
        graphql(app.test_client(), "{ me { username } }", pair["access_token"]).json["data"]["me"]["username"]
        == "alice"
    )


# -- configuration


@pytest.mark.parametrize(
    "config, message",
    [
        ({"AUTH_TOKEN_LOCATION": "session"}, "AUTH_TOKEN_LOCATION"),
        ({"AUTH_TOKEN_LOCATION": ""}, "AUTH_TOKEN_LOCATION"),
        ({"AUTH_TOKEN_LOCATION": 3}, "AUTH_TOKEN_LOCATION"),
        ({"AUTH_COOKIE_SAMESITE": "sometimes"}, "AUTH_COOKIE_SAMESITE"),
        ({"AUTH_COOKIE_SAMESITE": "None", "AUTH_COOKIE_SECURE": False}, "AUTH_COOKIE_SAMESITE=None needs"),
        ({"AUTH_COOKIE_SECURE": "maybe"}, "AUTH_COOKIE_SECURE"),
        ({"AUTH_COOKIE_DOMAIN": "bad domain;"}, "AUTH_COOKIE_DOMAIN"),
        ({"AUTH_REFRESH_COOKIE_PATH": "admin"}, "AUTH_REFRESH_COOKIE_PATH"),
        ({"AUTH_REFRESH_COOKIE_PATH": "/a; Secure"}, "AUTH_REFRESH_COOKIE_PATH"),
    ],
)
def test_bad_cookie_settings_fail_at_start_up(db_name, config, message):
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY=SECRET, MONGODB_URI=database_uri(db_name), **config)
    with pytest.raises(ConfigError, match=message):
        AuthService(app)


def test_insecure_cookies_are_refused_outside_testing_and_debug(db_name):
    def build(**config):
        app = Flask(__name__)
        app.config.update(SECRET_KEY=SECRET, MONGODB_URI=database_uri(db_name), AUTH_COOKIE_SECURE="false", **config)
        AuthService(app)
        return app

    with pytest.raises(ConfigError, match="AUTH_COOKIE_SECURE may be false only in testing or debug"):
        build()
    assert build(TESTING=True).config["AUTH_COOKIE_SECURE"] is False
    assert build(DEBUG=True).config["AUTH_COOKIE_SECURE"] is False


def test_cookie_settings_are_parsed_once(db_name):
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET,
        MONGODB_URI=database_uri(db_name),
        AUTH_TOKEN_LOCATION=" Cookies , headers ",
        AUTH_COOKIE_SAMESITE="none",
    )
    AuthService(app)
    assert app.config["AUTH_TOKEN_LOCATION"] == ("headers", "cookies")
    assert app.config["AUTH_COOKIE_SAMESITE"] == "None" and app.config["AUTH_COOKIE_SECURE"] is True
    assert app.config["AUTH_COOKIE_DOMAIN"] is None and app.config["AUTH_REFRESH_COOKIE_PATH"] == "/"


def test_insecure_cookies_over_http_work_in_testing(make_app, alice):
    app = make_app(AUTH_TOKEN_LOCATION=BOTH, AUTH_COOKIE_SECURE=False)
    response = app.test_client().post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert not any("secure" in c for c in set_cookies(response).values())


def test_the_example_enables_both_locations(db_name):
    app = make_app_with(db_name)
    assert app.config["AUTH_TOKEN_LOCATION"] == ("headers", "cookies") and app.config["AUTH_COOKIE_SECURE"] is True


def test_a_csrf_failure_is_a_403_on_rest_and_a_graphql_error_in_a_200(browser):
    client, _ = browser
    rest = client.post("/admin/logout")
    assert (rest.status_code, rest.json) == (403, {"message": "csrf_failed"})
    answer = client.post("/admin/graphql", json={"query": "{ __typename me { username } }"})
    assert answer.status_code == 200
    assert answer.json["errors"][0]["message"] == "csrf_failed"
    # The fields that need no caller still answer.
    assert answer.json["data"] == {"__typename": "Query", "me": None}

"""Security events are logged with who and from where, never with secrets."""

import logging

import pytest
from conftest import PASSWORD, bearer


@pytest.fixture
def events(caplog):
    caplog.set_level(logging.INFO, logger="flask_auth_service_mongo")
    return caplog


def test_replays_and_revocations_are_logged_without_tokens(client, make_user, login, events):
    user = make_user()
    first, second, third = login(), login(), login()
    client.post("/admin/refresh", json={"refresh_token": first["refresh_token"]})
    client.post("/admin/refresh", json={"refresh_token": first["refresh_token"]})
    sid = client.get("/admin/sessions", headers=bearer(third["token"])).json["data"][0]["id"]
    client.delete(f"/admin/sessions/{sid}", headers=bearer(third["token"]))
    client.post("/admin/logout", headers=bearer(second["token"]))
    client.post("/admin/login", json={"username": "alice", "password": "not the password"})
    text = events.text
    assert f"refresh token replayed: session of user {user.pk} ended (from 127.0.0.1)" in text
    assert f"session revoked by user {user.pk} (from 127.0.0.1)" in text
    assert f"logout: a session of user {user.pk} ended (from 127.0.0.1)" in text
    assert "failed login for 'alice' from 127.0.0.1" in text
    for secret in (PASSWORD, "not the password", *first.values(), second["token"], third["token"]):
        if isinstance(secret, str) and len(secret) > 8:
            assert secret not in text


def test_logout_everywhere_is_logged(client, make_user, login, events):
    user = make_user()
    token = login()["token"]
    client.post("/admin/logout-all", headers=bearer(token))
    assert f"logout everywhere: 1 sessions of user {user.pk} ended (from 127.0.0.1)" in events.text

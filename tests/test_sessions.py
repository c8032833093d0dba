"""Logout everywhere, the session list and revoking one's own sessions."""

import datetime

import pytest
from conftest import bearer
from freezegun import freeze_time

from flask_auth_service_mongo.models import Session


def test_logout_all_ends_every_session_of_the_user_and_spares_others(client, alice, make_user, login):
    make_user(username="bob")
    mine = [login(), login(), login()]
    bobs = login(username="bob")
    response = client.post("/admin/logout-all", headers=bearer(mine[0]["token"]))
    assert (response.status_code, response.json) == (200, {"message": "ok", "data": {"ended": 3}})
    for pair in mine:
        assert client.get("/admin/me", headers=bearer(pair["token"])).status_code == 401
        assert client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    assert client.get("/admin/me", headers=bearer(bobs["token"])).status_code == 200


def test_the_session_list_shows_the_users_own_sessions_newest_first(client, alice, make_user, login):
    make_user(username="bob")
    first = login(headers={"User-Agent": "phone"}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    with freeze_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)):
        second = login(headers={"User-Agent": "laptop"})
    login(username="bob")
    response = client.get("/admin/sessions", headers=bearer(first["token"]))
    assert response.status_code == 200
    body = response.json
    assert body["message"] == "ok"
    assert [s["user_agent"] for s in body["data"]] == ["laptop", "phone"]
    assert [s["current"] for s in body["data"]] == [False, True]
    assert body["data"][1]["ip"] == "10.0.0.1"
    for item in body["data"]:
        assert set(item) == {"id", "created_at", "last_used_at", "ip", "user_agent", "current", "authenticated_at"}
        assert item["created_at"].endswith("Z")
    assert second["token"] not in str(body)


def test_user_agent_and_ip_are_stored_with_bounded_length(client, alice, login):
    login(headers={"User-Agent": "x" * 5000})
    stored = Session.objects.get()
    assert len(stored.user_agent) == 256


def test_last_use_is_recorded_at_most_once_per_interval(client, alice, login):
    token = login()["token"]
    created = Session.objects.get().last_used_at
    client.get("/admin/me", headers=bearer(token))
    assert Session.objects.get().last_used_at == created
    with freeze_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=90)):
        client.get("/admin/me", headers=bearer(token))
        used = Session.objects.get().last_used_at
        assert used > created
        client.get("/admin/me", headers=bearer(token))
        assert Session.objects.get().last_used_at == used


def test_a_user_revokes_one_of_their_own_sessions(client, alice, login):
    current, other = login(), login()
    listed = client.get("/admin/sessions", headers=bearer(current["token"])).json["data"]
    other_id = next(s["id"] for s in listed if not s["current"])
    response = client.delete(f"/admin/sessions/{other_id}", headers=bearer(current["token"]))
    assert (response.status_code, response.json) == (200, {"message": "ok"})
    assert client.get("/admin/me", headers=bearer(other["token"])).status_code == 401
    assert client.get("/admin/me", headers=bearer(current["token"])).status_code == 200


def test_a_user_cannot_see_or_revoke_another_users_session(client, alice, make_user, login):
    make_user(username="bob")
    mine = login()
    bobs = login(username="bob")
    bob_session = client.get("/admin/sessions", headers=bearer(bobs["token"])).json["data"][0]["id"]
    assert bob_session not in str(client.get("/admin/sessions", headers=bearer(mine["token"])).json)
    response = client.delete(f"/admin/sessions/{bob_session}", headers=bearer(mine["token"]))
    assert (response.status_code, response.json) == (404, {"message": "not_found"})
    assert client.get("/admin/me", headers=bearer(bobs["token"])).status_code == 200


def test_revoking_an_unknown_session_is_not_found(client, alice, login):
    token = login()["token"]
    response = client.delete("/admin/sessions/nope", headers=bearer(token))
    assert (response.status_code, response.json) == (404, {"message": "not_found"})


@pytest.mark.parametrize(
    "method, path", [("post", "/admin/logout-all"), ("get", "/admin/sessions"), ("delete", "/admin/sessions/x")]
)
def test_session_endpoints_need_a_token(client, method, path):
    response = getattr(client, method)(path)
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})

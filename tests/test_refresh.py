"""POST /refresh: rotation, reuse detection, expiry, concurrency."""

import datetime

import jwt
import mongoengine
import pytest
from conftest import SECRET, bearer
from freezegun import freeze_time

from flask_auth_service_mongo.models import Session, User


def refresh(client, token):
    return client.post("/admin/refresh", json={"refresh_token": token})


def later(minutes):
    return freeze_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes))


def test_refresh_after_the_access_token_expired_gives_a_new_pair_of_the_same_session(client, pair):
    with later(61):
        assert client.get("/admin/me", headers=bearer(pair["token"])).json == {"message": "signature_expired"}
        response = refresh(client, pair["refresh_token"])
        assert response.status_code == 200
        data = response.json["data"]
        assert response.json["message"] == "ok"
        assert data["token"] == data["access_token"] and data["token_type"] == "Bearer"
        assert (data["role"], data["change_password"], data["expires_in"]) == ("admin", False, 60)
        assert client.get("/admin/me", headers=bearer(data["token"])).status_code == 200
    old, new = (
        jwt.decode(t, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
        for t in (pair["token"], data["token"])
    )
    assert old["sid"] == new["sid"]
    assert Session.objects.count() == 1


def test_refresh_rotates_the_refresh_token(client, pair):
    first = refresh(client, pair["refresh_token"]).json["data"]
    assert first["refresh_token"] != pair["refresh_token"]
    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200
    sid = jwt.decode(pair["token"], SECRET, algorithms=["HS256"])["sid"]
    stored = Session.objects.get(id=sid)
    assert stored.refresh_jti == jwt.decode(second.json["data"]["refresh_token"], SECRET, algorithms=["HS256"])["jti"]


def test_refresh_keeps_the_access_tokens_already_issued(client, pair):
    refreshed = refresh(client, pair["refresh_token"]).json["data"]
    assert client.get("/admin/me", headers=bearer(pair["token"])).status_code == 200
    assert client.get("/admin/me", headers=bearer(refreshed["token"])).status_code == 200


def test_replaying_a_spent_refresh_token_ends_the_whole_session(client, pair):
    refreshed = refresh(client, pair["refresh_token"]).json["data"]
    replay = refresh(client, pair["refresh_token"])
    assert (replay.status_code, replay.json) == (401, {"message": "unauthorized"})
    assert replay.headers["WWW-Authenticate"].startswith("Bearer")
    for token in (pair["token"], refreshed["token"]):
        assert client.get("/admin/me", headers=bearer(token)).json == {"message": "unauthorized"}
    assert refresh(client, refreshed["refresh_token"]).status_code == 401
    assert Session.objects.count() == 0


def test_replay_ends_only_that_session(client, make_user, login):
    make_user()
    stolen, other = login(), login()
    refresh(client, stolen["refresh_token"])
    refresh(client, stolen["refresh_token"])
    assert client.get("/admin/me", headers=bearer(other["token"])).status_code == 200


def test_a_retry_within_the_grace_window_is_refused_without_ending_the_session(make_app, make_user):
    app = make_app(AUTH_REFRESH_REUSE_GRACE_SECONDS=5)
    make_user()
    client = app.test_client()
    pair = client.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]
    refreshed = refresh(client, pair["refresh_token"]).json["data"]
    retry = refresh(client, pair["refresh_token"])
    assert (retry.status_code, retry.json) == (401, {"message": "unauthorized"})
    assert client.get("/admin/me", headers=bearer(refreshed["token"])).status_code == 200
    with later(1):
        assert refresh(client, pair["refresh_token"]).status_code == 401
        assert client.get("/admin/me", headers=bearer(refreshed["token"])).status_code == 401


def test_an_access_token_is_not_a_refresh_token(client, pair):
    response = refresh(client, pair["token"])
    assert (response.status_code, response.json) == (401, {"message": "invalid_token"})


def test_an_expired_refresh_token_is_signature_expired(client, pair):
    with later(10081):
        response = refresh(client, pair["refresh_token"])
    assert (response.status_code, response.json) == (401, {"message": "signature_expired"})


def test_a_refresh_never_extends_the_session(client, pair):
    with later(10000):
        refreshed = refresh(client, pair["refresh_token"]).json["data"]
        new = jwt.decode(refreshed["refresh_token"], SECRET, algorithms=["HS256"])
        original = jwt.decode(pair["refresh_token"], SECRET, algorithms=["HS256"])
        assert new["exp"] == original["exp"]
    with later(10081):
        assert refresh(client, refreshed["refresh_token"]).status_code == 401


@pytest.mark.parametrize("body", [{}, {"refresh_token": 5}, {"refresh_token": "x", "extra": 1}, []])
def test_a_malformed_refresh_body_is_a_bad_request(client, body):
    response = client.post("/admin/refresh", json=body)
    assert (response.status_code, response.json["message"]) == (400, "bad_request")


def test_a_disabled_user_cannot_refresh(client, pair):
    from flask_auth_service_mongo.models import User

    user = User.objects.get(username="alice")
    user.active = False
    user.save()
    assert refresh(client, pair["refresh_token"]).json == {"message": "unauthorized"}


def test_the_session_collection_has_a_ttl_index_on_the_expiry(app):
    indexes = mongoengine.get_db().session.index_information()
    ttl = [spec for spec in indexes.values() if "expireAfterSeconds" in spec]
    assert len(ttl) == 1
    assert ttl[0]["key"] == [("expires_at", 1)] and ttl[0]["expireAfterSeconds"] == 0


def test_expires_in_is_the_real_lifetime_when_the_session_ends_sooner(make_app, make_user):
    app = make_app(AUTH_TOKEN_EXPIRE_MINUTES=60, AUTH_REFRESH_TOKEN_EXPIRE_MINUTES=90)
    make_user()
    client = app.test_client()
    pair = client.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]
    assert pair["expires_in"] == 60
    with later(80):
        assert refresh(client, pair["refresh_token"]).json["data"]["expires_in"] == 10


def test_a_user_disabled_around_the_models_gets_no_new_pair_and_keeps_the_token_unspent(client, make_user, login):
    user = make_user()
    pair = login()
    User.objects(pk=user.pk).update(set__active=False)  # a queryset update: no model hook runs
    refused = client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]})
    assert (refused.status_code, refused.json["message"]) == (401, "unauthorized")
    User.objects(pk=user.pk).update(set__active=True)
    again = client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200  # not spent by the refusal: no reuse detected

"""POST /logout ends the session of the Bearer token, and only that one."""

from conftest import bearer

from flask_auth_service_mongo.models import Session


def test_logout_answers_ok_and_the_token_stops_working(client, make_user, login):
    make_user()
    token = login()["token"]
    response = client.post("/admin/logout", headers=bearer(token))
    assert (response.status_code, response.json) == (200, {"message": "ok"})
    response = client.get("/admin/me", headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})
    assert client.post("/admin/logout", headers=bearer(token)).status_code == 401
    assert Session.objects.count() == 0


def test_logout_kills_the_refresh_token_of_that_session(client, make_user, login):
    make_user()
    pair = login()
    client.post("/admin/logout", headers=bearer(pair["token"]))
    response = client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]})
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})


def test_logout_spares_the_other_sessions(client, make_user, login):
    make_user()
    first, second = login(), login()
    client.post("/admin/logout", headers=bearer(first["token"]))
    assert client.get("/admin/me", headers=bearer(second["token"])).status_code == 200


def test_logout_is_seen_by_another_app_sharing_the_database(make_app, make_user):
    first_app = make_app()
    make_user()
    # A second process: its own app object and token cache on the same database.
    second_app = make_app()
    one, two = first_app.test_client(), second_app.test_client()
    token = one.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]["token"]
    assert two.get("/admin/me", headers=bearer(token)).status_code == 200
    assert one.post("/admin/logout", headers=bearer(token)).status_code == 200
    assert two.get("/admin/me", headers=bearer(token)).json == {"message": "unauthorized"}


def test_logout_without_a_token_is_unauthorized(client):
    response = client.post("/admin/logout")
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})

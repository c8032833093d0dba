"""The documented update_password mutation: checks, storage and sessions."""

import pytest
from conftest import PASSWORD, bearer, graphql

from flask_auth_service_mongo.models import Session, User
from flask_auth_service_mongo.passwords import hash_rounds

DOCUMENTED = """
mutation {
  update_password(input: {
    current_password: "current"
    new_password: "new_pass"
    password_confirmed: "new_pass"
  }) { ok }
}
"""

UPDATE = """
mutation($current: String!, $new: String!, $confirmed: String!) {
  update_password(input: {current_password: $current, new_password: $new, password_confirmed: $confirmed}) { ok }
}
"""


def update(client, token, current=PASSWORD, new="brand new secret", confirmed=None):
    variables = {"current": current, "new": new, "confirmed": new if confirmed is None else confirmed}
    return graphql(client, UPDATE, token, variables)


def error_message(response) -> str:
    assert response.status_code == 200
    assert response.json["data"] == {"update_password": None}
    return response.json["errors"][0]["message"]


def test_the_documented_mutation_answers_ok(client, make_user, login):
    make_user(password="current")
    token = login(password="current")["token"]
    response = graphql(client, DOCUMENTED, token)
    assert (response.status_code, response.json) == (200, {"data": {"update_password": {"ok": True}}})


def test_the_old_password_stops_working_and_the_new_one_logs_in(client, make_user, login):
    make_user()
    assert update(client, login()["token"]).json["data"] == {"update_password": {"ok": True}}
    old = client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert (old.status_code, old.json) == (400, {"message": "bad_credentials"})
    assert login(password="brand new secret")["token"]
    assert hash_rounds(User.objects.get(username="alice").password) == 4


def test_other_sessions_end_and_the_callers_survives(client, make_user, login):
    make_user()
    mine, other = login(), login()
    assert update(client, mine["token"]).json["data"] == {"update_password": {"ok": True}}
    assert client.get("/admin/me", headers=bearer(mine["token"])).status_code == 200
    assert client.get("/admin/me", headers=bearer(other["token"])).json == {"message": "unauthorized"}
    assert client.post("/admin/refresh", json={"refresh_token": other["refresh_token"]}).status_code == 401
    assert client.post("/admin/refresh", json={"refresh_token": mine["refresh_token"]}).status_code == 200
    assert Session.objects.count() == 1


def test_other_users_keep_their_sessions(client, make_user, login):
    make_user()
    make_user("bob")
    bob = login("bob")["token"]
    update(client, login()["token"])
    assert client.get("/admin/me", headers=bearer(bob)).status_code == 200


def test_a_user_who_must_change_the_password_can_and_is_then_let_in(make_app, make_user):
    app = make_app(AUTH_REQUIRE_PASSWORD_CHANGE=True)
    client = app.test_client()
    make_user(change_password=True)
    token = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    assert client.get("/plain/fresh", headers=bearer(token)).json == {"message": "password_change_required"}
    assert update(client, token).json["data"] == {"update_password": {"ok": True}}
    assert client.get("/plain/fresh", headers=bearer(token)).status_code == 200
    assert User.objects.get(username="alice").change_password is False


@pytest.mark.parametrize(
    "current, new, confirmed, code",
    [
        ("wrong password", "brand new secret", None, "current_password_mismatch"),
        (PASSWORD, "brand new secret", "brand new secreT", "passwords_do_not_match"),
        (PASSWORD, "short", None, "password_too_short"),
        (PASSWORD, "é" * 37, None, "password_too_long"),
        (PASSWORD, PASSWORD, None, "same_password"),
        (PASSWORD, "", None, "password_required"),
    ],
)
def test_each_refusal_has_its_code_and_changes_nothing(client, make_user, login, current, new, confirmed, code):
    user = make_user()
    mine, other = login(), login()
    assert error_message(update(client, mine["token"], current, new, confirmed)) == code
    assert User.objects.get(pk=user.pk).password == user.password
    assert client.get("/admin/me", headers=bearer(other["token"])).status_code == 200


@pytest.mark.parametrize("token", [None, "a.b.c"])
def test_anonymous_and_bad_tokens_are_refused(client, make_user, token):
    user = make_user()
    assert error_message(update(client, token)) == ("unauthorized" if token is None else "invalid_token")
    assert User.objects.get(pk=user.pk).password == user.password


def test_a_revoked_token_is_refused(client, make_user, login):
    user = make_user()
    token = login()["token"]
    client.post("/admin/logout", headers=bearer(token))
    assert error_message(update(client, token)) == "unauthorized"
    assert User.objects.get(pk=user.pk).password == user.password


def test_a_deactivated_users_token_is_refused(client, make_user, login):
    user = make_user()
    token = login()["token"]
    user.active = False
    user.save()
    assert error_message(update(client, token)) == "unauthorized"


def test_one_password_check_per_request(client, make_user, login):
    make_user()
    token = login()["token"]
    guesses = " ".join(
        f'g{i}: update_password(input: {{current_password: "guess {i}", new_password: "brand new secret", '
        f'password_confirmed: "brand new secret"}}) {{ ok }}'
        for i in range(3)
    )
    response = graphql(client, f"mutation {{ {guesses} }}", token)
    assert [e["message"] for e in response.json["errors"]] == [
        "current_password_mismatch",
        "too_many_attempts",
        "too_many_attempts",
    ]


def test_guessing_the_current_password_is_throttled_like_logins(client, make_user, login):
    make_user()
    token = login()["token"]
    for _ in range(5):
        assert error_message(update(client, token, current="wrong guess")) == "current_password_mismatch"
    assert error_message(update(client, token)) == "too_many_attempts"
    assert client.post("/admin/login", json={"username": "alice", "password": "brand new secret"}).status_code == 400


def test_failed_logins_cannot_lock_anyone_out_of_update_password(client, make_user, login):
    user = make_user()
    token = login()["token"]
    for _ in range(6):
        client.post("/admin/login", json={"username": str(user.pk), "password": "whatever"})
    assert update(client, token).json == {"data": {"update_password": {"ok": True}}}

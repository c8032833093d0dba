"""The refresh_token mutation: the same rotation and reuse detection as POST /refresh."""

from conftest import bearer, graphql

from flask_auth_service_mongo.models import Session

REFRESH = """
mutation($t: String!) {
  refresh_token(input: {refresh_token: $t}) {
    token access_token token_type refresh_token expires_in change_password role
  }
}
"""


def refresh(client, refresh_token, access_token=None):
    return graphql(client, REFRESH, access_token, {"t": refresh_token})


def test_a_refresh_rotates_the_pair_of_the_same_session(client, make_user, login):
    make_user()
    pair = login()
    response = refresh(client, pair["refresh_token"])
    data = response.json["data"]["refresh_token"]
    assert response.status_code == 200 and "errors" not in response.json
    assert data["token"] == data["access_token"] != pair["token"]
    assert data["refresh_token"] != pair["refresh_token"]
    assert (data["token_type"], data["expires_in"], data["change_password"], data["role"]) == (
        "Bearer",
        60,
        False,
        "admin",
    )
    assert client.get("/admin/me", headers=bearer(data["token"])).status_code == 200
    assert refresh(client, data["refresh_token"]).json["data"]["refresh_token"]["token"]
    assert Session.objects.count() == 1


def test_replaying_a_spent_refresh_token_ends_the_session(client, make_user, login):
    make_user()
    pair = login()
    fresh = refresh(client, pair["refresh_token"]).json["data"]["refresh_token"]
    replay = refresh(client, pair["refresh_token"])
    assert replay.json["data"] == {"refresh_token": None}
    assert replay.json["errors"][0]["message"] == "unauthorized"
    assert client.get("/admin/me", headers=bearer(fresh["token"])).json == {"message": "unauthorized"}
    assert refresh(client, fresh["refresh_token"]).json["errors"][0]["message"] == "unauthorized"
    assert Session.objects.count() == 0


def test_bad_refresh_tokens_are_refused(client, make_user, login):
    make_user()
    pair = login()
    assert refresh(client, "a.b.c").json["errors"][0]["message"] == "invalid_token"
    assert refresh(client, pair["token"]).json["errors"][0]["message"] == "invalid_token"


def test_a_stale_access_token_sent_along_does_not_matter(client, make_user, login):
    make_user()
    response = refresh(client, login()["refresh_token"], access_token="a.b.c")
    assert "errors" not in response.json

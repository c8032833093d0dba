"""What the answers look like: expiry in both units, one JSON format for every body."""

import json

import jwt
from conftest import PASSWORD, SECRET, bearer, graphql


def test_login_answers_expires_at_in_unix_seconds_beside_expires_in_minutes(make_app, make_user):
    client = make_app(AUTH_TOKEN_EXPIRE_MINUTES=15).test_client()
    make_user()
    data = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    claims = jwt.decode(data["token"], SECRET, algorithms=["HS256"])
    assert data["expires_in"] == 15
    assert data["expires_at"] == claims["exp"] == claims["iat"] + 15 * 60


def test_refresh_answers_expires_at_too(client, pair):
    data = client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]}).json["data"]
    claims = jwt.decode(data["token"], SECRET, algorithms=["HS256"])
    assert (data["expires_in"], data["expires_at"]) == (60, claims["exp"])


def test_the_graphql_refresh_answers_expires_at_too(client, pair):
    query = "mutation($t: String!) { refresh_token(input: {refresh_token: $t}) { token expires_in expires_at } }"
    data = graphql(client, query, variables={"t": pair["refresh_token"]}).json["data"]["refresh_token"]
    claims = jwt.decode(data["token"], SECRET, algorithms=["HS256"])
    assert (data["expires_in"], data["expires_at"]) == (60, claims["exp"])


def formatted_alike(response) -> bool:
    """The body as json.dumps writes it (flask-restx's format), one newline after."""
    return response.get_data(as_text=True) == json.dumps(response.json) + "\n"


def test_error_bodies_are_formatted_like_success_bodies(client, pair):
    answers = [
        client.get("/admin/me", headers=bearer(pair["token"])),
        client.get("/admin/me"),
        client.get("/admin/me", headers=bearer("not.a.token")),
        client.post("/admin/login", json={"username": "alice", "password": "wrong password"}),
        client.post("/admin/login", data=b"{", headers={"Content-Type": "application/json"}),
        client.post("/plain/login", json={"username": "alice"}),
        client.get("/plain/me"),
    ]
    assert [r.status_code for r in answers] == [200, 401, 401, 400, 400, 400, 401]
    assert all(formatted_alike(r) for r in answers), [r.get_data(as_text=True) for r in answers]
    assert all(r.mimetype == "application/json" for r in answers)


def test_graphql_bodies_share_that_format(client, pair):
    answers = [
        graphql(client, "{ me { username } }", pair["token"]),
        graphql(client, "{ me { username } }"),
        client.post("/admin/graphql", data=b"{", headers={"Content-Type": "application/json"}),
        client.get("/admin/graphql"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 400, 405]
    assert all(formatted_alike(r) for r in answers), [r.get_data(as_text=True) for r in answers]


def test_graphql_permissions_are_a_json_object_and_times_end_in_z(client, make_user, login):
    make_user(role="admin")
    from flask_auth_service_mongo.models import Role

    Role(name="staff", permissions={"users": ["read", "write"], "level": 2}).save()
    token = login()["token"]
    data = graphql(client, "{ roles { name permissions } me { created_at } }", token).json["data"]
    assert data["roles"] == [
        {"name": "admin", "permissions": {}},
        {"name": "staff", "permissions": {"users": ["read", "write"], "level": 2}},
    ]
    assert data["me"]["created_at"].endswith("Z")

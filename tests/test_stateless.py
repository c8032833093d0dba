"""AUTH_WHITE_LIST_TOKEN off: stateless tokens that logout cannot revoke."""

import pytest
from conftest import PASSWORD, bearer

from flask_auth_service_mongo.models import Role, User


@pytest.fixture
def client(make_app):
    return make_app(AUTH_WHITE_LIST_TOKEN=False).test_client()


def test_stateless_tokens_guard_views_and_survive_logout(client, make_user):
    make_user()
    token = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    assert client.get("/admin/me", headers=bearer(token)).status_code == 200
    assert client.post("/admin/logout", headers=bearer(token)).status_code == 200
    assert client.get("/admin/me", headers=bearer(token)).status_code == 200


def test_stateless_tokens_still_refuse_a_disabled_user_and_a_wrong_role(client, make_user):
    make_user()
    token = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    user = User.objects.get(username="alice")
    user.role = Role(name="viewer").save()
    user.save()
    assert client.get("/admin/me", headers=bearer(token)).json == {"message": "forbidden"}
    user.active = False
    user.save()
    assert client.get("/plain/any", headers=bearer(token)).json == {"message": "unauthorized"}

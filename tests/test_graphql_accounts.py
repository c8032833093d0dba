"""Account management over GraphQL: admins create, update, delete and reset users."""

import pytest
from conftest import PASSWORD, bearer, graphql
from graphql_relay import to_global_id

from flask_auth_service_mongo.errors import ConfigError
from flask_auth_service_mongo.models import Role, Session, User

CREATE = """
mutation($input: CreateUserInput!) {
  create_user(input: $input) { user { id username active change_password role { name } } }
}
"""
UPDATE = """
mutation($input: UpdateUserInput!) {
  update_user(input: $input) { user { username active change_password role { name } } }
}
"""
DELETE = "mutation($id: ID!) { delete_user(input: {id: $id}) { ok } }"
RESET = "mutation($id: ID!) { reset_password(input: {id: $id}) { password } }"


@pytest.fixture
def admin_token(make_user, login):
    make_user()
    return login()["token"]


@pytest.fixture
def bob(make_user, login):
    """A user of role ``staff`` with a live session; returns (user, token)."""
    user = make_user("bob", role="staff")
    return user, login("bob", path="/plain/login")["token"]


def new_user(**fields):
    return {
        "username": "Carol",
        "password": "carol's secret",
        "password_confirmed": "carol's secret",
        "role": "staff",
        **fields,
    }


def test_an_admin_creates_a_user_who_can_then_log_in(client, admin_token, make_user):
    make_user("someone", role="staff")
    response = graphql(client, CREATE, admin_token, {"input": new_user()})
    user = response.json["data"]["create_user"]["user"]
    assert (user["username"], user["active"], user["change_password"], user["role"]) == (
        "carol",
        True,
        False,
        {"name": "staff"},
    )
    assert str(User.objects.get(username="carol").pk) == user["id"]
    login = client.post("/plain/login", json={"username": "carol", "password": "carol's secret"})
    assert login.status_code == 200


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"username": "alice"}, "username_taken"),
        ({"username": "al"}, "username_too_short"),
        ({"username": "car ol"}, "username_invalid"),
        ({"role": "nobody"}, "role_not_found"),
        ({"password_confirmed": "other"}, "passwords_do_not_match"),
        ({"password": "short", "password_confirmed": "short"}, "password_too_short"),
    ],
)
def test_create_user_refusals_have_their_codes(client, admin_token, make_user, fields, code):
    make_user("someone", role="staff")
    response = graphql(client, CREATE, admin_token, {"input": new_user(**fields)})
    assert (response.json["data"], response.json["errors"][0]["message"]) == ({"create_user": None}, code)
    assert User.objects.count() == 2


def test_account_operations_refuse_anonymous_callers_and_other_roles(client, make_user, bob):
    user, token = bob
    for caller, code in ((None, "unauthorized"), (token, "forbidden")):
        response = graphql(client, DELETE, caller, {"id": str(user.pk)})
        assert response.json["errors"][0]["message"] == code
        response = graphql(client, "{ users { username } roles { name } }", caller)
        assert [e["message"] for e in response.json["errors"]] == [code, code]
    assert User.objects(pk=user.pk).count() == 1


def test_the_admin_roles_come_from_the_config(make_app, make_user, login):
    app = make_app(AUTH_ADMIN_ROLES="staff, auditor")
    client = app.test_client()
    make_user()
    make_user("bob", role="staff")
    query = "{ users { username } }"
    assert graphql(client, query, login()["token"]).json["errors"][0]["message"] == "forbidden"
    bob = login("bob", path="/plain/login")["token"]
    assert graphql(client, query, bob).json["data"] == {"users": [{"username": "alice"}, {"username": "bob"}]}


def test_the_admin_roles_must_name_a_role(make_app):
    with pytest.raises(ConfigError, match="AUTH_ADMIN_ROLES"):
        make_app(AUTH_ADMIN_ROLES=" , ")


def test_deactivating_a_user_ends_their_sessions(client, admin_token, bob):
    user, token = bob
    response = graphql(client, UPDATE, admin_token, {"input": {"id": str(user.pk), "active": False}})
    assert response.json["data"]["update_user"]["user"]["active"] is False
    assert client.get("/plain/any", headers=bearer(token)).json == {"message": "unauthorized"}
    assert Session.objects(user=user.pk).count() == 0
    login = client.post("/plain/login", json={"username": "bob", "password": PASSWORD})
    assert login.json == {"message": "bad_credentials"}


def test_a_new_role_and_flag_are_seen_on_the_next_request(make_app, make_user, login):
    client = make_app(AUTH_REQUIRE_PASSWORD_CHANGE=True, AUTH_ADMIN_ROLES="admin,support").test_client()
    make_user()
    make_user("someone", role="support")
    user = make_user("bob", role="staff")
    admin, token = login()["token"], login("bob", path="/plain/login")["token"]
    users = "{ users { username } }"
    assert graphql(client, users, token).json["errors"][0]["message"] == "forbidden"
    variables = {"input": {"id": str(user.pk), "role": "support", "change_password": True}}
    updated = graphql(client, UPDATE, admin, variables).json["data"]["update_user"]["user"]
    assert (updated["role"], updated["change_password"]) == ({"name": "support"}, True)
    # The role check passes now; the flag is what stops bob.
    assert graphql(client, users, token).json["errors"][0]["message"] == "password_change_required"


def test_update_user_refusals_have_their_codes(client, admin_token, bob):
    user, _ = bob
    for variables, code in (
        ({"id": "6b013a6935dc50d17f512454"}, "not_found"),
        ({"id": "not an id"}, "not_found"),
        ({"id": str(user.pk), "role": "nobody"}, "role_not_found"),
    ):
        response = graphql(client, UPDATE, admin_token, {"input": variables})
        assert response.json["errors"][0]["message"] == code


def test_deleting_a_user_ends_their_sessions(client, admin_token, bob):
    user, token = bob
    response = graphql(client, DELETE, admin_token, {"id": str(user.pk)})
    assert response.json == {"data": {"delete_user": {"ok": True}}}
    assert User.objects(pk=user.pk).count() == 0
    assert Session.objects(user=user.pk).count() == 0
    assert client.get("/plain/any", headers=bearer(token)).json == {"message": "unauthorized"}


def test_ids_may_be_relay_global_ids_as_in_0_1_8(client, admin_token, bob):
    user, _ = bob
    response = graphql(client, DELETE, admin_token, {"id": to_global_id("User", str(user.pk))})
    assert response.json == {"data": {"delete_user": {"ok": True}}}


def test_a_password_reset_gives_a_generated_password_that_must_be_changed(client, admin_token, bob):
    user, token = bob
    password = graphql(client, RESET, admin_token, {"id": str(user.pk)}).json["data"]["reset_password"]["password"]
    assert len(password) == 16 and password.isalnum()
    assert client.get("/plain/any", headers=bearer(token)).json == {"message": "unauthorized"}
    assert client.post("/plain/login", json={"username": "bob", "password": PASSWORD}).status_code == 400
    login = client.post("/plain/login", json={"username": "bob", "password": password})
    assert login.json["data"]["change_password"] is True


def test_me_users_and_roles_never_expose_a_password_hash(client, admin_token, bob):
    response = graphql(
        client, "{ me { username role { name } } users { username } roles { name permissions } }", admin_token
    )
    assert response.json == {
        "data": {
            "me": {"username": "alice", "role": {"name": "admin"}},
            "users": [{"username": "alice"}, {"username": "bob"}],
            "roles": [{"name": "admin", "permissions": {}}, {"name": "staff", "permissions": {}}],
        }
    }
    assert Role.objects.count() == 2


def test_the_user_type_has_no_password_field(make_app):
    # Introspection is open in debug mode only.
    client = make_app(DEBUG=True).test_client()
    fields = graphql(client, '{ __type(name: "User") { fields { name } } }').json["data"]["__type"]["fields"]
    assert "password" not in {field["name"] for field in fields}


def test_users_are_paged(client, admin_token, bob):
    response = graphql(client, "{ users(limit: 1, offset: 1) { username } }", admin_token)
    assert response.json == {"data": {"users": [{"username": "bob"}]}}


def test_me_answers_the_caller_whatever_their_role(client, bob):
    _, token = bob
    assert graphql(client, "{ me { username } }", token).json == {"data": {"me": {"username": "bob"}}}
    assert graphql(client, "{ me { username } }").json["errors"][0]["message"] == "unauthorized"


def test_a_user_whose_role_was_deleted_shows_no_role(client, admin_token, bob):
    Role.objects.get(name="staff").delete()
    response = graphql(client, "{ users { username role { name } } }", admin_token)
    assert response.json == {
        "data": {"users": [{"username": "alice", "role": {"name": "admin"}}, {"username": "bob", "role": None}]}
    }

"""MutationMiddleware: per-mutation rules for anonymous, authenticated and role callers."""

import graphene
import pytest
from conftest import graphql

from flask_auth_service_mongo import MutationMiddleware, Roles, schema
from flask_auth_service_mongo.graphql_view import mount

PATH = "/custom/graphql"


class Ping(graphene.Mutation):
    ok = graphene.Boolean()

    @staticmethod
    def mutate(root, info):
        return Ping(ok=True)


class Mutation(schema.Mutation):
    open_door = Ping.Field()
    members_only = Ping.Field()
    pilots_only = Ping.Field()
    no_rule = Ping.Field()


class Query(schema.Query):
    hello = graphene.String()

    @staticmethod
    def resolve_hello(root, info):
        return "world"


@pytest.fixture
def client(make_app):
    """The example app plus a schema of the user's own, with rules."""
    app = make_app()
    rules = [
        {"mutation": "open_door", "roles": [Roles.IS_AUTHENTICATED_ANONYMOUSLY]},
        {"mutation": "members_only", "roles": [Roles.IS_AUTHENTICATED_FULLY]},
        {"mutation": "pilots_only", "roles": ["pilot", "captain"]},
        {"mutation": "pilots_only", "roles": [Roles.IS_AUTHENTICATED_ANONYMOUSLY]},
    ]
    own = graphene.Schema(query=Query, mutation=Mutation, auto_camelcase=False)
    mount(app, own, rule=PATH, middleware=[MutationMiddleware(rules)])
    return app.test_client()


def call(client, field, token=None):
    response = graphql(client, f"mutation {{ {field} {{ ok }} }}", token, path=PATH)
    assert response.status_code == 200
    errors = [error["message"] for error in response.json.get("errors", ())]
    return response.json["data"][field], errors


@pytest.fixture
def tokens(make_user, login):
    make_user("pilot", role="pilot")
    make_user("clerk", role="clerk")
    return {name: login(name, path="/plain/login")["token"] for name in ("pilot", "clerk")}


def test_an_anonymous_rule_lets_anyone_in_whatever_the_token(client):
    assert call(client, "open_door") == ({"ok": True}, [])
    assert call(client, "open_door", "a.b.c") == ({"ok": True}, [])


def test_an_authenticated_rule_refuses_anonymous_and_bad_tokens(client, tokens):
    assert call(client, "members_only") == (None, ["unauthorized"])
    assert call(client, "members_only", "a.b.c") == (None, ["invalid_token"])
    assert call(client, "members_only", tokens["clerk"]) == ({"ok": True}, [])


def test_a_role_rule_lets_in_only_those_roles(client, tokens):
    assert call(client, "pilots_only") == (None, ["unauthorized"])
    assert call(client, "pilots_only", tokens["clerk"]) == (None, ["forbidden"])
    assert call(client, "pilots_only", tokens["pilot"]) == ({"ok": True}, [])


def test_a_revoked_session_is_refused(client, tokens):
    assert call(client, "members_only", tokens["clerk"]) == ({"ok": True}, [])
    client.application.test_cli_runner().invoke(args=["auth_mongo", "logout-user", "-u", "clerk"])
    assert call(client, "members_only", tokens["clerk"]) == (None, ["unauthorized"])


def test_mutations_without_a_rule_and_queries_are_left_to_their_resolvers(client):
    assert call(client, "no_rule") == ({"ok": True}, [])
    response = graphql(client, "{ hello }", path=PATH)
    assert response.json == {"data": {"hello": "world"}}


def test_a_rule_cannot_open_the_account_operations_to_others(make_app, make_user, login):
    app = make_app()
    mount(
        app,
        schema.schema,
        rule=PATH,
        middleware=[MutationMiddleware([{"mutation": "delete_user", "roles": [Roles.IS_AUTHENTICATED_ANONYMOUSLY]}])],
    )
    user = make_user()
    response = graphql(app.test_client(), f'mutation {{ delete_user(input: {{id: "{user.pk}"}}) {{ ok }} }}', path=PATH)
    assert response.json["errors"][0]["message"] == "unauthorized"


def test_a_rule_without_roles_is_refused_at_once():
    with pytest.raises(ValueError):
        MutationMiddleware([{"mutation": "open_door"}])


def test_the_pseudo_roles_keep_their_0_1_8_values():
    assert Roles.values() == ["is_authenticated", "is_anonymously"]


def test_a_user_who_must_change_the_password_is_refused_ruled_mutations_when_required(make_app, make_user, login):
    app = make_app(AUTH_REQUIRE_PASSWORD_CHANGE=True)
    rules = [{"mutation": "members_only", "roles": [Roles.IS_AUTHENTICATED_FULLY]}]
    own = graphene.Schema(query=Query, mutation=Mutation, auto_camelcase=False)
    mount(app, own, rule=PATH, middleware=[MutationMiddleware(rules)])
    make_user(change_password=True)
    client = app.test_client()
    token = client.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]["token"]
    assert call(client, "members_only", token) == (None, ["password_change_required"])

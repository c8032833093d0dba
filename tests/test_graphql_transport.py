"""The GraphQL endpoint over HTTP: malformed requests get 400, never a 500;
resolver failures never leak; a database outage fails closed."""

import graphene
import pytest
from conftest import graphql, signed_token

from flask_auth_service_mongo import schema
from flask_auth_service_mongo.graphql_view import mount

REFRESH = "mutation($t: String!) { refresh_token(input: {refresh_token: $t}) { access_token } }"


@pytest.mark.parametrize("flags", [{}, {"TESTING": False, "PROPAGATE_EXCEPTIONS": False}])
@pytest.mark.parametrize(
    "body, content_type",
    [
        ("not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("{}", "application/json"),
        ('{"query": 3}', "application/json"),
        ('{"query": "{ me }", "variables": [1]}', "application/json"),
        ('{"query": "{ me }", "operationName": 1}', "application/json"),
        ('{"query": "{ me }"}', "text/plain"),
        ("x" * 300_000, "application/json"),
    ],
)
def test_a_malformed_body_is_a_400_with_a_graphql_error(make_app, flags, body, content_type):
    response = make_app(**flags).test_client().post("/admin/graphql", data=body, content_type=content_type)
    assert response.status_code == 400
    assert response.json["errors"][0]["message"] == "bad_request"
    assert "data" not in response.json


@pytest.mark.parametrize(
    "query, variables",
    [
        ("{ me ", None),
        ("{ nothing_here }", None),
        ("mutation { update_password { ok } }", None),
        (REFRESH, {"t": 3}),
        (REFRESH, None),
        ("query A { me { id } } query B { me { id } }", None),
    ],
)
def test_a_query_that_cannot_run_is_a_400_with_a_graphql_error(client, query, variables):
    response = graphql(client, query, variables=variables)
    assert response.status_code == 400
    assert response.json["errors"][0]["message"]
    assert "data" not in response.json


def test_get_is_refused_outside_debug_mode_and_serves_graphiql_in_it(make_app):
    response = make_app().test_client().get("/admin/graphql")
    assert (response.status_code, response.json) == (405, {"errors": [{"message": "method_not_allowed"}]})
    response = make_app(DEBUG=True).test_client().get("/admin/graphql")
    assert response.status_code == 200 and b"graphiql" in response.data.lower()


def test_an_unexpected_resolver_error_is_not_shown(make_app, caplog):
    class Query(schema.Query):
        broken = graphene.String()

        @staticmethod
        def resolve_broken(root, info):
            raise RuntimeError("secret internals")

    app = make_app()
    mount(app, graphene.Schema(query=Query, auto_camelcase=False), rule="/custom/graphql")
    response = graphql(app.test_client(), "{ broken }", path="/custom/graphql")
    assert response.status_code == 200
    assert response.json["data"] == {"broken": None}
    assert response.json["errors"][0]["message"] == "internal_error"
    assert "secret internals" not in response.get_data(as_text=True)
    assert "broken" in caplog.text


def test_update_password_answers_503_when_the_database_is_down(unreachable_app):
    query = (
        'mutation { update_password(input: {current_password: "a", new_password: "b", password_confirmed: "b"})'
        " { ok } }"
    )
    response = graphql(unreachable_app.test_client(), query, signed_token())
    assert response.status_code == 503
    assert response.json["data"] == {"update_password": None}
    assert response.json["errors"][0]["message"] == "service_unavailable"


def test_refresh_token_answers_503_when_the_database_is_down(unreachable_app):
    response = graphql(unreachable_app.test_client(), REFRESH, variables={"t": signed_token("refresh")})
    assert (response.status_code, response.json["errors"][0]["message"]) == (503, "service_unavailable")


def test_a_query_of_thousands_of_fields_is_refused_before_it_runs(client):
    query = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(1000)) + " }"
    response = graphql(client, query)
    assert response.status_code == 400
    assert "tokens" in response.json["errors"][0]["message"]


def test_lone_surrogates_in_variables_are_a_bad_request(client):
    body = '{"query": "query($n: String) { __typename }", "variables": {"n": "\\ud800"}}'
    response = client.post("/admin/graphql", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["errors"][0]["message"] == "bad_request"

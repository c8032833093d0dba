"""A body that does not parse says so, apart from valid JSON that is not an object."""

import pytest
from conftest import bearer

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "body, reason",
    [
        (b'{"username": "alice",', "invalid JSON at line 1 column 22"),
        (b'{"username": "alice"\n "password": "x"}', "invalid JSON at line 2 column 2"),
        (b"", "invalid JSON at line 1 column 1"),
        (b'{"username": "\xff"}', "invalid JSON: not UTF-8 text"),
        (b"[" * 10_000, "invalid JSON: nested too deeply"),
        (b"[1]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
)
def test_login_names_invalid_json_apart_from_json_that_is_not_an_object(client, body, reason):
    response = client.post("/admin/login", data=body, headers=JSON)
    assert response.status_code == 400
    assert response.json == {"message": "bad_request", "errors": {"body": reason}}


def test_refresh_names_invalid_json_too(client):
    response = client.post("/admin/refresh", data=b'{"refresh_token": }', headers=JSON)
    assert response.json == {"message": "bad_request", "errors": {"body": "invalid JSON at line 1 column 19"}}


def test_a_graphql_query_spanning_lines_inside_a_json_string_is_named_invalid_json(client, pair):
    # What the README's curl sent before it was fixed: raw newlines inside a JSON string.
    body = b'{"query": "mutation { update_password(input: {\n  current_password: \\"x\\"}) { ok } }"}'
    response = client.post("/admin/graphql", data=body, headers={**JSON, **bearer(pair["token"])})
    assert response.status_code == 400
    [error] = response.json["errors"]
    assert error["message"] == "bad_request"
    assert error["extensions"]["detail"] == {"body": "invalid JSON at line 1 column 47"}


def test_a_graphql_body_that_is_not_an_object_says_so(client):
    response = client.post("/admin/graphql", data=b'["query"]', headers=JSON)
    assert response.json["errors"][0]["extensions"]["detail"] == {"body": "must be a JSON object"}

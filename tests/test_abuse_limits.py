"""Abuse limits: what a caller without a password can still make us do is bounded.

GraphQL work before validation, login attempts per client IP, the account-wide
limit across the owner's successes, JSON-only credential bodies, uncached
token answers and ordered admin roles.
"""

import datetime
import json
from string import ascii_letters

import mongoengine
import pytest
from conftest import PASSWORD, bearer, graphql
from freezegun import freeze_time

from flask_auth_service_mongo.accounts import check_admin_rank
from flask_auth_service_mongo.errors import ConfigError, Forbidden
from flask_auth_service_mongo.models import Session, User
from flask_auth_service_mongo.passwords import hash_rounds

TOO_COMPLEX = {"errors": [{"message": "query_too_complex"}]}
LOCKED = {"message": "too_many_attempts"}


def attempt(client, username="alice", password=PASSWORD, ip="10.0.0.1"):
    return client.post(
        "/admin/login", json={"username": username, "password": password}, environ_base={"REMOTE_ADDR": ip}
    )


def counters() -> int:
    return mongoengine.get_db()["login_attempt"].count_documents({})


def me_with(fields: int) -> str:
    return "{ me { " + "id " * fields + "} }"


# --- GraphQL: bounded before validation -------------------------------------


def test_the_710_field_anonymous_query_is_refused_as_too_complex(client):
    response = graphql(client, me_with(710))
    assert (response.status_code, response.json) == (400, TOO_COMPLEX)


def test_200_selections_run_and_201_are_too_complex(client, pair):
    # `me` itself is one selection.
    response = graphql(client, me_with(199), pair["token"])
    assert response.status_code == 200 and response.json["data"]["me"]["id"]
    assert (graphql(client, me_with(200), pair["token"]).json, 400) == (TOO_COMPLEX, 400)


def test_each_alias_counts(client):
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(201)) + " }"
    response = graphql(client, query)
    assert (response.status_code, response.json) == (400, TOO_COMPLEX)
    assert graphql(client, "{ " + " ".join(f"a{i}: __typename" for i in range(200)) + " }").status_code == 200


def test_fragment_spreads_are_expanded(client):
    fragment = "fragment F on User { " + "id " * 20 + "}"
    query = "{ me { " + "...F " * 11 + "} } " + fragment
    response = graphql(client, query)
    assert (response.status_code, response.json) == (400, TOO_COMPLEX)


def test_fragments_that_double_each_other_are_refused_at_once(client):
    names = [f"F{i}" for i in range(40)]
    fragments = " ".join(f"fragment {a} on Query {{ ...{b} ...{b} }}" for a, b in zip(names, names[1:]))
    query = "{ ...F0 } " + fragments + " fragment F39 on Query { __typename }"
    response = graphql(client, query)
    assert (response.status_code, response.json) == (400, TOO_COMPLEX)


def test_a_fragment_cycle_is_refused(client):
    query = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    response = graphql(client, query)
    assert (response.status_code, response.json) == (400, TOO_COMPLEX)


def test_fragments_no_operation_uses_count_too(client):
    unused = " ".join(f"fragment U{i} on Query {{ " + "__typename " * 50 + "}" for i in range(5))
    response = graphql(client, "{ __typename } " + unused)
    assert (response.status_code, response.json) == (400, TOO_COMPLEX)


def test_the_997_spreads_of_undefined_fragments_are_refused_as_too_complex(client):
    names = [a + b for a in ascii_letters for b in ascii_letters if a + b != "on"][:997]
    query = "{ " + " ".join(f"...{name}" for name in names) + " }"
    response = graphql(client, query)
    assert (response.status_code, response.json) == (400, TOO_COMPLEX)


def test_a_spread_of_an_undefined_fragment_counts_as_a_selection(client):
    fields = " ".join(f"a{i}: __typename" for i in range(199))
    assert graphql(client, "{ " + fields + " ...missing0 ...missing1 }").json == TOO_COMPLEX
    # 200 selections reach validation, which refuses the unknown fragment.
    response = graphql(client, "{ " + fields + " ...missing0 }")
    assert response.status_code == 400 and response.json["errors"][0]["message"] == "Unknown fragment 'missing0'."


def test_more_than_50_spreads_in_one_selection_set_are_too_complex(client):
    fragment = " fragment F on Query { __typename }"
    assert graphql(client, "{ " + "...F " * 51 + "}" + fragment).json == TOO_COMPLEX
    assert graphql(client, "{ " + "...F " * 50 + "}" + fragment).json == {"data": {"__typename": "Query"}}


def test_a_query_longer_than_16_kib_is_too_complex_before_parsing(client):
    def commented(length: int) -> str:
        query = "{ __typename }\n#"
        return query + "x" * (length - len(query))

    response = graphql(client, commented(16 * 1024 + 1))
    assert (response.status_code, response.json) == (400, TOO_COMPLEX)
    assert graphql(client, commented(16 * 1024)).status_code == 200


def test_a_depth_over_12_is_refused_before_validation(client):
    deep = "{ " + "a { " * 12 + "b" + " }" * 12 + " }"  # 13 levels
    response = graphql(client, deep)
    assert (response.status_code, response.json) == (400, TOO_COMPLEX)
    # 12 levels reach validation, which refuses the unknown fields.
    shallower = graphql(client, "{ " + "a { " * 11 + "b" + " }" * 11 + " }")
    assert shallower.status_code == 400 and shallower.json != TOO_COMPLEX


def test_typename_is_not_introspection(client):
    assert graphql(client, "{ __typename }").json == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("query", ["{ __schema { types { name } } }", '{ __type(name: "User") { name } }'])
def test_introspection_is_off_outside_debug_mode(make_app, query):
    response = graphql(make_app().test_client(), query)
    assert response.status_code == 400 and "data" not in response.json
    assert "introspection" in response.json["errors"][0]["message"].lower()
    assert graphql(make_app(DEBUG=True).test_client(), query).status_code == 200


def test_graphiqls_introspection_query_works_in_debug_mode(make_app):
    from graphql import get_introspection_query

    response = graphql(make_app(DEBUG=True).test_client(), get_introspection_query())
    assert response.status_code == 200 and response.json["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize(
    "query, variables",
    [
        ("{ mee { id } }", None),
        ("{ me { usernam } }", None),
        ("query($i: UpdateUserInput!) { __typename }", None),
        ("mutation($i: UpdateUserInput!) { update_user(input: $i) { user { id } } }", {"i": {"id": "x", "activ": 1}}),
    ],
)
def test_errors_make_no_suggestions_outside_debug_mode(make_app, query, variables):
    messages = [e["message"] for e in graphql(make_app().test_client(), query, variables=variables).json["errors"]]
    assert messages and not any("did you mean" in m.lower() for m in messages)


def test_suggestions_help_in_debug_mode(make_app):
    response = graphql(make_app(DEBUG=True).test_client(), "{ mee { id } }")
    assert "Did you mean" in response.json["errors"][0]["message"]


@pytest.mark.parametrize(
    "arguments",
    ["limit: null", "offset: null", "limit: null, offset: null", "limit: -1", "limit: 0", "limit: 9999", "offset: -5"],
)
def test_an_out_of_range_or_null_page_is_the_default(client, pair, make_user, arguments):
    make_user("bob", role="staff")
    response = graphql(client, f"{{ users({arguments}) {{ username }} }}", pair["token"])
    assert response.json == {"data": {"users": [{"username": "alice"}, {"username": "bob"}]}}


# --- Login per client IP, across usernames ----------------------------------


@pytest.fixture
def ip_limited(make_app):
    return make_app(AUTH_LOGIN_IP_MAX_ATTEMPTS=3, AUTH_LOGIN_LOCKOUT_SECONDS=600).test_client()


def test_failures_from_one_ip_across_usernames_lock_that_ip_out(ip_limited, alice):
    with freeze_time(datetime.datetime.now(datetime.timezone.utc)):  # Retry-After counts down in seconds
        for name in ("spray1", "spray2", "spray3"):
            assert attempt(ip_limited, name, "guess").status_code == 400
        response = attempt(ip_limited, "alice")
    assert (response.status_code, response.json, response.headers["Retry-After"]) == (429, LOCKED, "600")
    assert attempt(ip_limited, "alice", ip="10.0.0.2").status_code == 200


def test_a_locked_ip_writes_no_counter_and_checks_no_password(make_app, make_user):
    client = make_app(AUTH_LOGIN_IP_MAX_ATTEMPTS=2, AUTH_BCRYPT_ROUNDS=5).test_client()
    make_user()  # its hash is at cost 4: a right password checked at login would upgrade it
    for name in ("spray1", "spray2"):
        attempt(client, name, "guess")
    stored = counters()
    for name in ("alice", "fresh-name", "another-one"):
        assert attempt(client, name).status_code == 429
    assert counters() == stored
    assert hash_rounds(User.objects.get(username="alice").password) == 4
    assert Session.objects.count() == 0


def test_successes_do_not_use_up_the_ip_limit(ip_limited, alice):
    for _ in range(5):
        assert attempt(ip_limited).status_code == 200
    for name in ("spray1", "spray2"):
        assert attempt(ip_limited, name, "guess").status_code == 400
    assert attempt(ip_limited).status_code == 200


def test_the_ip_lockout_ends_after_the_lockout_seconds(ip_limited, alice):
    with freeze_time(datetime.datetime.now(datetime.timezone.utc)) as frozen:
        for name in ("spray1", "spray2", "spray3"):
            attempt(ip_limited, name, "guess")
        assert attempt(ip_limited).status_code == 429
        frozen.tick(601)
        assert attempt(ip_limited).status_code == 200


def test_the_ip_limit_is_50_by_default_and_0_turns_it_off(make_app, make_user):
    assert make_app().config["AUTH_LOGIN_IP_MAX_ATTEMPTS"] == 50
    client = make_app(AUTH_LOGIN_IP_MAX_ATTEMPTS=0).test_client()
    make_user()
    for n in range(60):
        assert attempt(client, f"spray{n}", "guess").status_code == 400
    assert attempt(client).status_code == 200


@pytest.mark.parametrize("value", [-1, "many"])
def test_a_bad_ip_limit_fails_at_start_up(make_app, value):
    with pytest.raises(ConfigError, match="AUTH_LOGIN_IP_MAX_ATTEMPTS"):
        make_app(AUTH_LOGIN_IP_MAX_ATTEMPTS=value)


# --- The account-wide limit is not reset by a success -----------------------


def test_the_owners_logins_do_not_reset_the_account_wide_count(make_app, make_user):
    client = make_app(AUTH_LOGIN_MAX_ATTEMPTS=3, AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS=5).test_client()
    make_user()
    guesses = iter(f"198.51.100.{n}" for n in range(10))
    for burst in (2, 2, 1):
        ip = next(guesses)
        for _ in range(burst):
            assert attempt(client, password="guess", ip=ip).status_code == 400
        if burst == 2:
            assert attempt(client, ip="10.0.0.1").status_code == 200  # the owner, in between
    # Five failures in the period: the account is locked for everyone.
    response = attempt(client, ip="10.0.0.1")
    assert (response.status_code, response.json) == (429, LOCKED)
    assert attempt(client, password="guess", ip=next(guesses)).status_code == 429


def test_a_success_forgets_only_that_ips_failures_for_the_username(make_app, make_user):
    client = make_app(AUTH_LOGIN_MAX_ATTEMPTS=3, AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS=10).test_client()
    make_user()
    for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"):
        attempt(client, password="guess", ip=ip)
    assert attempt(client, ip="10.0.0.1").status_code == 200
    # 10.0.0.1 starts again; 10.0.0.2 keeps its two failures.
    attempt(client, password="guess", ip="10.0.0.1")
    attempt(client, password="guess", ip="10.0.0.2")
    assert attempt(client, ip="10.0.0.2").status_code == 429
    assert attempt(client, ip="10.0.0.1").status_code == 200


# --- Credential bodies are JSON, token answers are not cached ---------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_refresh_not_sent_as_json_is_a_bad_request_and_spends_nothing(client, pair, content_type):
    body = json.dumps({"refresh_token": pair["refresh_token"]})
    response = client.post("/admin/refresh", data=body, content_type=content_type)
    assert (response.status_code, response.json["message"]) == (400, "bad_request")
    assert client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 200


def test_login_answers_are_not_cached(client, alice):
    for password, status in ((PASSWORD, 200), ("guess", 400)):
        response = client.post("/admin/login", json={"username": "alice", "password": password})
        assert (response.status_code, response.headers["Cache-Control"]) == (status, "no-store")
    assert client.post("/admin/login", data="x", content_type="text/plain").headers["Cache-Control"] == "no-store"


def test_refresh_answers_are_not_cached(client, pair):
    response = client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]})
    assert (response.status_code, response.headers["Cache-Control"]) == (200, "no-store")
    refused = client.post("/admin/refresh", json={"refresh_token": "x.y.z"})
    assert (refused.status_code, refused.headers["Cache-Control"]) == (401, "no-store")


def test_reauthenticate_answers_are_not_cached_and_take_json_only(client, pair):
    headers = bearer(pair["token"])
    for password, status in ((PASSWORD, 200), ("guess", 400)):
        response = client.post("/admin/reauthenticate", json={"password": password}, headers=headers)
        assert (response.status_code, response.headers["Cache-Control"]) == (status, "no-store")
    form = client.post("/admin/reauthenticate", data=json.dumps({"password": PASSWORD}), headers=headers)
    assert (form.status_code, form.json["message"]) == (400, "bad_request")


def test_graphqls_refresh_answer_is_not_cached(client, pair):
    query = "mutation($t: String!) { refresh_token(input: {refresh_token: $t}) { access_token } }"
    response = graphql(client, query, variables={"t": pair["refresh_token"]})
    assert response.json["data"]["refresh_token"]["access_token"]
    assert response.headers["Cache-Control"] == "no-store"


# --- Ordered admin roles ----------------------------------------------------

CREATE = """
mutation($input: CreateUserInput!) { create_user(input: $input) { user { username role { name } } } }
"""
UPDATE = "mutation($input: UpdateUserInput!) { update_user(input: $input) { user { role { name } active } } }"
DELETE = "mutation($id: ID!) { delete_user(input: {id: $id}) { ok } }"
RESET = "mutation($id: ID!) { reset_password(input: {id: $id}) { password } }"


@pytest.fixture
def ranked(make_app, make_user, login):
    """admin > support > staff (not an admin role): the users, their tokens and a client."""
    client = make_app(AUTH_ADMIN_ROLES="admin,support").test_client()
    users = {name: make_user(name, role=name) for name in ("admin", "support", "staff")}
    make_user("support2", role="support")
    tokens = {name: login(name, path="/plain/login")["token"] for name in users}
    return client, users, tokens


def outcome(response) -> str:
    errors = response.json.get("errors")
    return errors[0]["message"] if errors else "ok"


def new_user(role: str) -> dict:
    return {"username": "newcomer", "password": "long enough", "password_confirmed": "long enough", "role": role}


@pytest.mark.parametrize(
    "caller, role, expected",
    [
        ("support", "staff", "ok"),
        ("support", "support", "forbidden"),
        ("support", "admin", "forbidden"),
        ("admin", "support", "ok"),
        ("admin", "admin", "forbidden"),
        ("staff", "staff", "forbidden"),
    ],
)
def test_a_caller_creates_only_users_ranked_below_itself(ranked, caller, role, expected):
    client, _, tokens = ranked
    assert outcome(graphql(client, CREATE, tokens[caller], {"input": new_user(role)})) == expected
    assert User.objects(username="newcomer").count() == (expected == "ok")


@pytest.mark.parametrize(
    "caller, target, expected",
    [
        ("support", "admin", "forbidden"),
        ("support", "support2", "forbidden"),
        ("support", "support", "forbidden"),
        ("support", "staff", "ok"),
        ("admin", "support", "ok"),
        ("admin", "admin", "forbidden"),
    ],
)
def test_a_caller_resets_only_users_ranked_below_itself(ranked, caller, target, expected):
    client, users, tokens = ranked
    target_user = User.objects.get(username=target)
    before = target_user.password
    response = graphql(client, RESET, tokens[caller], {"id": str(target_user.pk)})
    assert outcome(response) == expected
    assert (User.objects.get(pk=target_user.pk).password == before) == (expected != "ok")
    if expected != "ok":
        assert response.json["data"] == {"reset_password": None}


@pytest.mark.parametrize(
    "caller, target, expected",
    [("support", "admin", "forbidden"), ("support", "support2", "forbidden"), ("support", "staff", "ok")],
)
def test_a_caller_deletes_only_users_ranked_below_itself(ranked, caller, target, expected):
    client, _, tokens = ranked
    target_user = User.objects.get(username=target)
    assert outcome(graphql(client, DELETE, tokens[caller], {"id": str(target_user.pk)})) == expected
    assert User.objects(pk=target_user.pk).count() == (expected == "forbidden")


@pytest.mark.parametrize(
    "caller, target, change, expected",
    [
        ("support", "admin", {"active": False}, "forbidden"),
        ("support", "staff", {"role": "support"}, "forbidden"),
        ("support", "staff", {"role": "admin"}, "forbidden"),
        ("support", "staff", {"active": False}, "ok"),
        ("support", "support", {"role": "staff"}, "forbidden"),
        ("support", "support", {"active": False}, "forbidden"),
        ("admin", "staff", {"role": "support"}, "ok"),
        ("admin", "support", {"role": "staff"}, "ok"),
        ("admin", "staff", {"role": "admin"}, "forbidden"),
        ("admin", "admin", {"active": False}, "forbidden"),
        ("admin", "admin", {"role": "support"}, "forbidden"),
    ],
)
def test_a_caller_updates_only_users_ranked_below_itself_and_gives_only_lower_roles(
    ranked, caller, target, change, expected
):
    client, _, tokens = ranked
    target_user = User.objects.get(username=target)
    before = (target_user.role_name, target_user.active)
    response = graphql(client, UPDATE, tokens[caller], {"input": {"id": str(target_user.pk), **change}})
    assert outcome(response) == expected
    stored = User.objects.get(pk=target_user.pk)
    assert ((stored.role_name, stored.active) == before) == (expected != "ok")


def test_the_support_takeover_of_the_issue_is_refused(ranked):
    client, users, tokens = ranked
    reset = graphql(client, RESET, tokens["support"], {"id": str(users["admin"].pk)})
    assert reset.json == {"data": {"reset_password": None}, "errors": reset.json["errors"]}
    assert outcome(reset) == "forbidden"
    promote = graphql(client, UPDATE, tokens["support"], {"input": {"id": str(users["support"].pk), "role": "admin"}})
    assert outcome(promote) == "forbidden"
    assert client.post("/admin/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    assert client.get("/admin/me", headers=bearer(tokens["support"])).status_code == 403


def test_one_function_orders_the_roles():
    roles = ("admin", "support")
    check_admin_rank(roles, "admin", "support", "support")
    check_admin_rank(roles, "support", "staff", "guest")
    check_admin_rank(roles, "support", None, "staff")
    check_admin_rank(roles, "support", None)
    for args in [
        ("staff", None, "guest"),  # not an admin
        (None, None, None),
        ("support", "support", None),
        ("support", None, "support"),
        ("admin", None, "admin"),
        ("admin", "admin", None),
    ]:
        with pytest.raises(Forbidden):
            check_admin_rank(roles, *args)
    with pytest.raises(Forbidden):
        check_admin_rank(roles, "admin", "staff", None, is_self=True)


def test_with_one_admin_role_an_admin_still_manages_everyone_else(client, make_user, login):
    make_user()
    bob = make_user("bob", role="staff")
    token = login()["token"]
    assert outcome(graphql(client, RESET, token, {"id": str(bob.pk)})) == "ok"
    assert User.objects.get(pk=bob.pk).change_password is True

"""Login throttling: 429 too_many_attempts with Retry-After, counted in MongoDB."""

import datetime
import logging
from concurrent.futures import ThreadPoolExecutor

import mongoengine
import pytest
from conftest import PASSWORD, database_uri
from freezegun import freeze_time

from flask_auth_service_mongo import AuthService
from flask_auth_service_mongo.errors import ConfigError

LOCKED = {"message": "too_many_attempts"}


def attempt(client, username="alice", password=PASSWORD, ip="10.0.0.1"):
    return client.post(
        "/admin/login", json={"username": username, "password": password}, environ_base={"REMOTE_ADDR": ip}
    )


def fail(client, times, username="alice", ip="10.0.0.1"):
    for _ in range(times):
        assert attempt(client, username, "wrong password", ip).status_code == 400


@pytest.fixture
def app(make_app):
    return make_app(AUTH_LOGIN_MAX_ATTEMPTS=3, AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS=6, AUTH_LOGIN_LOCKOUT_SECONDS=600)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def test_after_max_failures_even_the_right_password_answers_429(client, make_user):
    make_user()
    with freeze_time(now()):  # Retry-After counts down in seconds
        fail(client, 3)
        response = attempt(client)
    assert (response.status_code, response.json) == (429, LOCKED)
    assert response.headers["Retry-After"] == "600"


def test_an_unknown_username_is_locked_out_exactly_like_a_known_one(client, make_user):
    make_user()
    with freeze_time(now()):  # Retry-After counts down in seconds
        fail(client, 3, "alice")
        fail(client, 3, "nobody")
        known, unknown = attempt(client, "alice"), attempt(client, "nobody")
    assert (known.status_code, known.json) == (unknown.status_code, unknown.json) == (429, LOCKED)
    assert dict(known.headers) == dict(unknown.headers)


def test_other_usernames_are_not_affected(client, make_user):
    make_user()
    make_user(username="bob")
    fail(client, 3, "alice")
    assert attempt(client, "bob").status_code == 200


def test_a_success_resets_the_count(client, make_user):
    make_user()
    fail(client, 2)
    assert attempt(client).status_code == 200
    fail(client, 2)
    assert attempt(client).status_code == 200


def test_the_lockout_ends_after_the_lockout_seconds(client, make_user):
    make_user()
    start = datetime.datetime.now(datetime.timezone.utc)
    with freeze_time(start) as frozen:
        fail(client, 3)
        frozen.tick(300)
        response = attempt(client)
        assert response.status_code == 429 and response.headers["Retry-After"] == "300"
        frozen.tick(301)
        assert attempt(client).status_code == 200


def test_attempts_during_a_lockout_do_not_extend_it(client, make_user):
    make_user()
    start = datetime.datetime.now(datetime.timezone.utc)
    with freeze_time(start) as frozen:
        fail(client, 3)
        for _ in range(5):
            frozen.tick(100)
            assert attempt(client, password="wrong password").status_code == 429
        frozen.tick(101)
        assert attempt(client).status_code == 200


def test_one_attacker_ip_does_not_lock_the_owner_out_from_elsewhere(client, make_user):
    make_user()
    fail(client, 3, ip="203.0.113.9")
    assert attempt(client, ip="203.0.113.9").status_code == 429
    assert attempt(client, ip="10.0.0.1").status_code == 200


def test_failures_from_many_ips_lock_the_username_for_everyone(client, make_user):
    make_user()
    for n in range(6):
        fail(client, 1, ip=f"198.51.100.{n}")
    response = attempt(client, ip="10.0.0.1")
    assert (response.status_code, response.json) == (429, LOCKED)


def test_the_lockout_holds_across_processes(make_app, make_user):
    config = {"AUTH_LOGIN_MAX_ATTEMPTS": 2}
    first = make_app(**config)
    make_user()
    # A second process: its own app object on the same database.
    second = make_app(**config)
    fail(first.test_client(), 1)
    fail(second.test_client(), 1)
    assert attempt(first.test_client()).status_code == 429
    assert attempt(second.test_client()).status_code == 429


def test_malformed_bodies_are_not_counted(client, make_user):
    make_user()
    for _ in range(5):
        assert client.post("/admin/login", json={"username": "alice"}).status_code == 400
    assert attempt(client).status_code == 200


def test_counters_live_in_mongo_with_a_ttl_and_keep_no_username(client, make_user):
    make_user()
    fail(client, 2)
    counters = mongoengine.get_db()["login_attempt"]
    stored = list(counters.find())
    # The client IP's, alice's from that IP, alice's from everywhere.
    assert sorted(c["count"] for c in stored) == [2, 2, 2]
    # No attempt is left in flight once its answer is out.
    assert all(set(c) == {"_id", "count", "pending", "expires_at"} and "alice" not in c["_id"] for c in stored)
    assert [c["pending"] for c in stored] == [0, 0, 0]
    ttl = [i for i in counters.index_information().values() if i["key"] == [("expires_at", 1)]]
    assert ttl and ttl[0]["expireAfterSeconds"] == 0
    attempt(client)
    # The success forgets alice's failures from that IP only; the others stay counted.
    assert sorted(c["count"] for c in counters.find()) == [2, 2]


def test_failures_and_lockouts_are_logged_with_username_and_ip_but_no_password(client, make_user, caplog):
    make_user()
    with caplog.at_level(logging.INFO, logger="flask_auth_service_mongo"):
        fail(client, 3)
        attempt(client)
    text = caplog.text
    assert "failed login for 'alice' from 10.0.0.1" in text
    assert "login locked out for 'alice' from 10.0.0.1" in text
    assert "wrong password" not in text and PASSWORD not in text


def test_by_default_failures_from_any_ips_count_against_the_account(make_app, make_user):
    app = make_app()
    assert app.config["AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS"] == app.config["AUTH_LOGIN_MAX_ATTEMPTS"] == 5
    make_user()
    client = app.test_client()
    for n in range(5):
        fail(client, 1, ip=f"198.51.100.{n}")
    response = attempt(client, ip="10.0.0.1")
    assert (response.status_code, response.json) == (429, LOCKED)
    assert int(response.headers["Retry-After"]) > 0


def test_an_account_limit_below_the_limit_fails_at_start_up(db_name):
    from flask import Flask

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="k" * 32,
        MONGODB_URI=database_uri(db_name),
        AUTH_LOGIN_MAX_ATTEMPTS=5,
        AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS=4,
    )
    with pytest.raises(ConfigError, match="AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS"):
        AuthService(app)


def test_parallel_guesses_cannot_exceed_the_limit(app, make_user):
    make_user()

    def guess(_):
        return attempt(app.test_client(), password="wrong password").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(guess, range(12)))
    assert sorted(statuses) == [400] * 3 + [429] * 9


def test_parallel_correct_logins_from_one_ip_all_pass(app, make_user):
    make_user()

    def log_in(_):
        return attempt(app.test_client()).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(log_in, range(24)))
    assert statuses == [200] * 24

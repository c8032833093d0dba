"""Racing requests on the real server: one refresh token is spent once, and
concurrent logins each open a session of their own."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from conftest import PASSWORD, bearer, wire_only

pytestmark = wire_only

THREADS = 8


@pytest.fixture
def app(make_app):
    # Every login attempt takes a throttle slot first: leave room for the race.
    return make_app(AUTH_LOGIN_MAX_ATTEMPTS=THREADS)


def race(app, method: str, path: str, body: dict) -> list:
    """Send the same request from THREADS threads at once; their answers."""
    barrier = Barrier(THREADS)

    def send(_):
        client = app.test_client()
        barrier.wait(timeout=30)
        response = client.open(path, method=method, json=body)
        return response.status_code, response.json

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(send, range(THREADS)))


def test_threads_refreshing_one_token_at_once_have_exactly_one_winner(app, make_user, login):
    make_user()
    refresh_token = login()["refresh_token"]
    answers = race(app, "POST", "/admin/refresh", {"refresh_token": refresh_token})
    assert sorted(status for status, _ in answers) == [200] + [401] * (THREADS - 1)


def test_threads_logging_in_at_once_each_get_a_session_of_their_own(app, make_user, server, db_name):
    make_user()
    answers = race(app, "POST", "/admin/login", {"username": "alice", "password": PASSWORD})
    assert [status for status, _ in answers] == [200] * THREADS
    assert len({body["data"]["refresh_token"] for _, body in answers}) == THREADS
    assert len(server[db_name].session.distinct("_id")) == THREADS


def test_threads_logging_in_at_once_leave_no_more_sessions_than_the_limit(make_app, make_user, server, db_name):
    app = make_app(AUTH_LOGIN_MAX_ATTEMPTS=THREADS, AUTH_MAX_SESSIONS_PER_USER=3)
    make_user()
    answers = race(app, "POST", "/admin/login", {"username": "alice", "password": PASSWORD})
    assert [status for status, _ in answers] == [200] * THREADS
    stored = set(server[db_name].session.distinct("_id"))
    assert len(stored) == 3
    client = app.test_client()
    working = [
        body
        for _, body in answers
        if client.get("/plain/any", headers=bearer(body["data"]["token"])).status_code == 200
    ]
    assert len(working) == 3

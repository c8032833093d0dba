"""Racing requests on the real server: one refresh token is spent once,
concurrent logins each open a session of their own, and parallel logins from
one IP are throttled on their failures only."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier, Event

from conftest import PASSWORD, bearer, wire_only

pytestmark = wire_only

THREADS = 8


def race(app, method: str, path: str, body: dict, threads: int = THREADS) -> list:
    """Send the same request from ``threads`` threads at once, from one IP; their answers."""
    barrier = Barrier(threads)

    def send(_):
        client = app.test_client()
        barrier.wait(timeout=30)
        response = client.open(path, method=method, json=body, environ_base={"REMOTE_ADDR": "203.0.113.7"})
        return response.status_code, response.json

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(send, range(threads)))


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
    app = make_app(AUTH_MAX_SESSIONS_PER_USER=3)
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


def test_thirty_parallel_correct_logins_from_one_ip_all_pass(make_app, make_user, server, db_name):
    app = make_app(AUTH_MAX_SESSIONS_PER_USER=0)  # the default limits: 5 failures per account
    make_user()
    answers = race(app, "POST", "/admin/login", {"username": "alice", "password": PASSWORD}, threads=30)
    assert [status for status, _ in answers] == [200] * 30
    assert len(server[db_name].session.distinct("_id")) == 30
    # Nothing left counted nor in flight.
    assert {(c["count"], c["pending"]) for c in server[db_name].login_attempt.find()} == {(0, 0)}


def test_parallel_wrong_logins_from_one_ip_are_still_locked_out_at_the_limit(make_app, make_user, server, db_name):
    app = make_app()
    make_user()
    answers = race(app, "POST", "/admin/login", {"username": "alice", "password": "wrong password"}, threads=30)
    assert sorted(status for status, _ in answers) == [400] * 5 + [429] * 25
    assert {body["message"] for status, body in answers if status == 429} == {"too_many_attempts"}
    assert (
        race(app, "POST", "/admin/login", {"username": "alice", "password": PASSWORD}, threads=4)
        == [(429, {"message": "too_many_attempts"})] * 4
    )


def test_requests_and_refreshes_racing_the_users_own_password_changes_are_never_refused(app, make_user, login):
    from conftest import graphql
    from test_graphql_update_password import UPDATE

    make_user()
    pair = login()
    passwords = [PASSWORD] + [f"changed password {n}" for n in range(16)]
    stop, answers = Event(), []

    def guarded() -> None:
        client = app.test_client()
        while not stop.is_set():
            answers.append(client.get("/plain/any", headers=bearer(pair["token"])).status_code)

    def refreshing() -> None:
        client, refresh_token = app.test_client(), pair["refresh_token"]
        while not stop.is_set():
            response = client.post("/admin/refresh", json={"refresh_token": refresh_token})
            answers.append(response.status_code)
            if response.status_code != 200:
                return
            refresh_token = response.json["data"]["refresh_token"]

    with ThreadPoolExecutor(4) as pool:
        running = [pool.submit(guarded), pool.submit(guarded), pool.submit(guarded), pool.submit(refreshing)]
        client = app.test_client()
        try:
            for current, new in zip(passwords, passwords[1:]):
                variables = {"current": current, "new": new, "confirmed": new}
                changed = graphql(client, UPDATE, pair["token"], variables)
                assert changed.json["data"] == {"update_password": {"ok": True}}, changed.json
        finally:
            stop.set()
        for future in running:
            future.result()
    assert len(answers) > 10 and set(answers) == {200}
    assert client.get("/plain/any", headers=bearer(pair["token"])).status_code == 200

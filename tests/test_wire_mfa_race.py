"""Racing second factors on the real server: one TOTP code, one recovery
code and one ``mfa_token`` are each spent once, however many use them at once."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from conftest import PASSWORD, wire_only
from mfa_helpers import database, enrol

pytestmark = wire_only

THREADS = 6


@pytest.fixture
def app(make_app):
    # Every attempt takes a throttle slot first: leave room for the race.
    return make_app(AUTH_LOGIN_MAX_ATTEMPTS=4 * THREADS)


def mfa_token(client) -> str:
    answer = client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    assert answer.json["message"] == "mfa_required", answer.json
    return answer.json["data"]["mfa_token"]


def race(app, bodies: list) -> list:
    """POST each body to the second step from a thread of its own, at once."""
    barrier = Barrier(len(bodies))

    def send(body):
        client = app.test_client()
        barrier.wait(timeout=30)
        response = client.post("/admin/login/mfa", json=body)
        return response.status_code, response.json["message"]

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


@pytest.fixture
def enrolled(app, make_user, login):
    make_user()
    return enrol(app.test_client(), login()["access_token"])


def test_one_code_on_many_mfa_tokens_at_once_signs_in_once(app, enrolled):
    authenticator, _ = enrolled
    client = app.test_client()
    code = authenticator.code()
    answers = race(app, [{"mfa_token": mfa_token(client), "code": code} for _ in range(THREADS)])
    assert sorted(answers) == [(200, "ok")] + [(400, "bad_code")] * (THREADS - 1)
    assert database(app).session.count_documents({}) == 2  # enrolment's session and the winner's


def test_one_mfa_token_used_at_once_with_its_code_signs_in_once(app, enrolled):
    authenticator, _ = enrolled
    token = mfa_token(app.test_client())
    code = authenticator.code()
    answers = race(app, [{"mfa_token": token, "code": code}] * THREADS)
    assert [status for status, _ in answers].count(200) == 1
    assert all(answer in ((400, "bad_code"), (401, "unauthorized")) for answer in answers if answer[0] != 200)


def test_one_recovery_code_used_at_once_signs_in_once(app, enrolled):
    _, codes = enrolled
    client = app.test_client()
    answers = race(app, [{"mfa_token": mfa_token(client), "recovery_code": codes[0]} for _ in range(THREADS)])
    assert sorted(answers) == [(200, "ok")] + [(400, "bad_code")] * (THREADS - 1)
    assert database(app).auth_recovery_code.count_documents({}) == 9

"""Recovery on the real server, over HTTP: one reset link is spent once,
whichever of two app processes the racing requests reach."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from conftest import PASSWORD, wire_only
from smtp import SmtpServer

from flask_auth_service_mongo import emails
from flask_auth_service_mongo.models import Role, User
from flask_auth_service_mongo.passwords import hash_password

pytestmark = wire_only

THREADS = 8
RESET_URL = "http://localhost:5000/#reset={token}"


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def test_concurrent_resets_with_one_link_have_exactly_one_winner(app, smtp, start_app):
    role = Role(name="admin").save()
    alice = User(username="alice", password=hash_password(PASSWORD, 4), role=role).save()
    emails.set_address(alice.pk, "alice@example.test")
    processes = [start_app(**smtp.config, AUTH_RESET_URL=RESET_URL) for _ in range(2)]
    assert processes[0].call("POST", "/admin/forgot-password", {"email": "alice@example.test"}) == (
        202,
        {"message": "ok"},
    )
    token = smtp.next_message().token()

    barrier = Barrier(THREADS)

    def reset(n):
        password = f"new password number {n}"
        barrier.wait(timeout=30)
        body = {"token": token, "new_password": password, "password_confirmed": password}
        return processes[n % 2].call("POST", "/admin/reset-password", body), password

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(reset, range(THREADS)))
    statuses = sorted(status for (status, _), _ in answers)
    assert statuses == [200] + [400] * (THREADS - 1)
    assert {body["message"] for (status, body), _ in answers if status == 400} == {"invalid_token"}
    [winner] = [password for (status, _), password in answers if status == 200]
    login = {"username": "alice", "password": winner}
    assert processes[1].call("POST", "/admin/login", login)[0] == 200
    assert emails.link_tokens().count_documents({}) == 0

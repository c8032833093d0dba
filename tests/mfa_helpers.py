"""Helpers of the second-factor tests: TOTP codes as an authenticator app
computes them (pyotp), and the enrolment through the example's routes."""

from __future__ import annotations

import time

import pyotp
from conftest import bearer

from flask_auth_service_mongo.state import get_state

STEP = 30


def database(app):
    """The app's database, as the tests read it."""
    return get_state(app).database


class Authenticator:
    """An authenticator app holding one secret. Each ``code()`` is the code
    of the next time step from the one current at creation: a code is
    accepted once, and one step of drift admits the current and the next
    step even when a step boundary passes during the test."""

    def __init__(self, secret: str):
        self.totp = pyotp.TOTP(secret)
        self.step = int(time.time() // STEP)

    def code(self) -> str:
        code = self.totp.generate_otp(self.step)
        self.step += 1
        return code

    def code_at(self, offset_steps: int) -> str:
        """The code of a step relative to now (beyond one step: refused)."""
        return self.totp.generate_otp(int(time.time() // STEP) + offset_steps)


def begin(client, token: str, path: str = "/admin/mfa/totp"):
    return client.post(path, json={}, headers=bearer(token))


def enrol(client, token: str) -> tuple[Authenticator, list[str]]:
    """Enrol TOTP for the session of ``token``: its authenticator and recovery codes."""
    started = begin(client, token)
    assert started.status_code == 200, started.json
    app = Authenticator(started.json["data"]["secret"])
    confirmed = client.post("/admin/mfa/totp/confirm", json={"code": app.code()}, headers=bearer(token))
    assert confirmed.status_code == 200, confirmed.json
    return app, confirmed.json["data"]["recovery_codes"]

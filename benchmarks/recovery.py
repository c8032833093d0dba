"""Does ``forgot_password`` answer in the same time for known and unknown accounts?

    python benchmarks/recovery.py [--rounds N] [--smtp-delay-ms MS] [--mongodb-uri URI]

The example app (mongomock unless ``--mongodb-uri``) mails through a real
SMTP server on loopback (aiosmtpd) that takes ``--smtp-delay-ms`` to accept
each message, as a remote server would. Requests for a known address, an
unknown one, a known username and an unknown one are interleaved through
Flask's test client; the table shows each kind's median and 99th percentile
and the gap between known and unknown medians, which should be noise (the
mail leaves from a worker thread, after the answer).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtpd.controller import Controller  # noqa: E402

from examples.app import create_app  # noqa: E402
from flask_auth_service_mongo import emails  # noqa: E402
from flask_auth_service_mongo.models import Role, User  # noqa: E402
from flask_auth_service_mongo.passwords import hash_password  # noqa: E402
from flask_auth_service_mongo.recovery import wait_for_mail  # noqa: E402

KINDS = {
    "known address": {"email": "alice@example.test"},
    "unknown address": {"email": "nobody@example.test"},
    "known username": {"username": "alice"},
    "unknown username": {"username": "nobody"},
}


class SlowHandler:
    def __init__(self, delay: float):
        self.delay = delay
        self.received = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        await asyncio.sleep(self.delay)
        self.received += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--smtp-delay-ms", type=float, default=200)
    parser.add_argument("--mongodb-uri", default=os.environ.get("BENCH_MONGODB_URI"))
    args = parser.parse_args()

    handler = SlowHandler(args.smtp_delay_ms / 1000)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    database = "bench_recovery_" + secrets.token_hex(4)
    uri = (args.mongodb_uri.rstrip("/") + "/" + database) if args.mongodb_uri else f"mongomock://localhost/{database}"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "MONGODB_URI": uri,
            "AUTH_BCRYPT_ROUNDS": 4,
            "AUTH_LOGIN_MAX_ATTEMPTS": 10**9,  # measure the answer, not the throttle
            "AUTH_LOGIN_IP_MAX_ATTEMPTS": 0,
            "MAIL_BACKEND": "smtp",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": port,
        }
    )
    role = Role(name="admin").save()
    alice = User(username="alice", password=hash_password("correct horse", 4), role=role).save()
    emails.set_address(alice.pk, "alice@example.test")
    client = app.test_client()
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(args.rounds):
        for kind, body in KINDS.items():
            started = time.perf_counter_ns()
            response = client.post("/admin/forgot-password", json=body)
            samples[kind].append((time.perf_counter_ns() - started) / 1000)
            assert response.status_code == 202, response.json
    answered = time.monotonic()
    wait_for_mail(app)
    drained = time.monotonic() - answered
    controller.stop()

    print(f"forgot_password, {args.rounds} rounds, SMTP accepting each message in {args.smtp_delay_ms:g} ms")
    print(f"{'request':<18} {'median µs':>10} {'p99 µs':>10}")
    for kind, values in samples.items():
        print(f"{kind:<18} {statistics.median(values):>10.0f} {quantile(values, 0.99):>10.0f}")
    for known, unknown in (("known address", "unknown address"), ("known username", "unknown username")):
        gap = statistics.median(samples[known]) - statistics.median(samples[unknown])
        print(f"median gap, {known} - {unknown}: {gap:+.0f} µs")
    print(f"{handler.received} messages delivered by the worker, {drained:.1f} s after the last answer")


if __name__ == "__main__":
    main()

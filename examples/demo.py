"""The in-memory demo of examples.app: its admin, and a warning when it runs
in more than one process (each has its own database, so logins get lost).

Each process running the demo leaves its pid in a directory of the temp dir
(``flask-auth-demo-<uid>-<a digest of the working directory>``, or the one
``FLASK_AUTH_DEMO_REGISTRY`` names: the tests use their own, so a demo
running beside them cannot disturb them); a process that finds another live
pid there, at
start-up, after a fork (gunicorn ``--preload``) or at its first request,
warns once. A pid reused by an unrelated process can give a false warning;
nothing else does.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from flask import Flask

from flask_auth_service_mongo import emails
from flask_auth_service_mongo.models import Role, User
from flask_auth_service_mongo.passwords import hash_password

#: The demo admin's address: reset links for it reach a local SMTP server.
DEMO_ADMIN_EMAIL = "admin@localhost"
SHARED_DATABASE = (
    "point every process at one MongoDB instead, e.g. "
    "MONGODB_URI=mongodb://localhost:27017/demo "
    'SECRET_KEY=$(python -c "import secrets; print(secrets.token_urlsafe(48))")'
)


def seed_admin(app: Flask) -> None:
    """Create role ``admin`` and user ``admin`` in the in-memory database."""
    password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    role = Role.objects(name="admin").first() or Role(name="admin", permissions={}).save()
    if not User.objects(username="admin").first():
        admin = User(username="admin", password=hash_password(password, app.config["AUTH_BCRYPT_ROUNDS"]), role=role)
        emails.set_address(admin.save().pk, DEMO_ADMIN_EMAIL)  # for "Forgot password?"
        print(
            f" * demo admin: username 'admin', password {password!r}, e-mail {DEMO_ADMIN_EMAIL} (in-memory database)",
            flush=True,
        )


#: Names the registry directory of the demo's processes, instead of the default.
REGISTRY_VARIABLE = "FLASK_AUTH_DEMO_REGISTRY"


def registry() -> Path:
    """The directory where the processes running the demo leave their pids:
    one per user and working directory, unless ``FLASK_AUTH_DEMO_REGISTRY``
    names another."""
    if os.environ.get(REGISTRY_VARIABLE):
        return Path(os.environ[REGISTRY_VARIABLE])
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    where = hashlib.sha256(str(Path.cwd().resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"flask-auth-demo-{uid}-{where}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def register(pid: int) -> None:
    folder = registry()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    (folder / str(pid)).touch()


def unregister(pid: int) -> None:
    with contextlib.suppress(OSError):
        (registry() / str(pid)).unlink()


def other_demo_processes() -> list[int]:
    """Live pids, other than this one, that run the in-memory demo."""
    others = []
    with contextlib.suppress(OSError):
        for entry in registry().iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            if alive(int(entry.name)):
                others.append(int(entry.name))
            else:
                unregister(int(entry.name))
    return sorted(others)


class ProcessCheck:
    """Warns, once per process, when the demo runs in other processes too:
    at start-up, after a fork, and at the first request (by then every
    worker of a server has started)."""

    def __init__(self, app: Flask, random_key: bool):
        self.app = app
        self.random_key = random_key
        self.warned_in = self.served_in = None

    def check(self) -> None:
        if self.warned_in == os.getpid():
            return
        others = other_demo_processes()
        if not others:
            return
        self.warned_in = os.getpid()
        key = (
            " Without SECRET_KEY each process also signs tokens with its own random key, so a token from one "
            "is refused by the others."
            if self.random_key
            else ""
        )
        self.app.logger.warning(
            "the in-memory demo database runs in more than one process (this one, %d, and %s): each process has "
            "its own database, so a login made in one is unknown to the others.%s To share one, %s.",
            os.getpid(),
            ", ".join(map(str, others)),
            key,
            SHARED_DATABASE,
        )

    def first_request(self) -> None:
        if self.served_in != os.getpid():
            self.served_in = os.getpid()
            self.check()

    def after_fork(self) -> None:
        # The child serves; the parent that forked it (gunicorn's master) does
        # not. Forked workers share the parent's key, not its later data.
        self.random_key = False
        unregister(os.getppid())
        register(os.getpid())
        self.check()


def watch_processes(app: Flask, random_key: bool) -> None:
    """Register this process as running the demo and warn when it is not alone."""
    watcher = ProcessCheck(app, random_key)
    register(os.getpid())
    atexit.register(lambda: unregister(os.getpid()))
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=watcher.after_fork)
    watcher.check()
    app.before_request(watcher.first_request)

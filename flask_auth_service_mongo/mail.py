"""Sending mail: messages from Jinja templates, a sender, and a worker thread.

A message is three templates under ``auth/mail/``: ``NAME.subject.txt``,
``NAME.txt`` (plain text) and ``NAME.html``. The app's own templates folder
(and its blueprints') are searched first, so an app overrides a message by
putting a file of that name there; the package's templates are the fallback.

A sender is a callable ``(to, subject, text, html)``: ``AUTH_MAIL_SENDER``,
or SMTP through Flask-Mailman from the ``MAIL_*`` keys. Messages leave from a
worker thread (``Outbox``), so a slow or dead SMTP server never shows in an
answer's timing, and its failure never in an answer at all.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from flask import Flask
from jinja2 import ChoiceLoader, Environment, PackageLoader

from .emails import is_plain_address
from .errors import ConfigError

log = logging.getLogger("flask_auth_service_mongo")

#: ``(to, subject, text, html)``: how a message leaves.
Sender = Callable[[str, str, str, str], Any]
#: An SMTP server that does not answer gives up after this many seconds
#: (Flask-Mailman's ``MAIL_TIMEOUT`` when set).
SMTP_TIMEOUT_SECONDS = 10
TEMPLATE_FOLDER = "auth/mail"


@dataclass(frozen=True)
class Message:
    """One rendered message."""

    subject: str
    text: str
    html: str


def smtp_sender(app: Flask) -> Sender:
    """A sender through Flask-Mailman (SMTP from ``MAIL_SERVER``, ``MAIL_PORT``,
    ``MAIL_USE_TLS``/``MAIL_USE_SSL``, ``MAIL_USERNAME``, ``MAIL_PASSWORD``,
    ``MAIL_DEFAULT_SENDER``); the app's own ``Mail`` when it set one up."""
    try:
        from flask_mailman import EmailMultiAlternatives, Mail
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "account recovery mails through Flask-Mailman, which is not installed: "
            "pip install flask-mailman, or set AUTH_MAIL_SENDER to a callable"
        ) from None
    if "mailman" not in app.extensions:
        Mail().init_app(app)
    if not app.config.get("MAIL_DEFAULT_SENDER"):
        raise ConfigError("MAIL_DEFAULT_SENDER must name the From address of account recovery mails")
    mail = Mail()

    def send(to: str, subject: str, text: str, html: str) -> None:
        options = {} if app.config.get("MAIL_TIMEOUT") else {"timeout": SMTP_TIMEOUT_SECONDS}
        message = EmailMultiAlternatives(subject, text, to=[to], connection=mail.get_connection(**options))
        message.attach_alternative(html, "text/html")
        message.send()

    return send


class Mailer:
    """Renders and sends the messages of one app."""

    def __init__(self, app: Flask, sender: Optional[Sender]):
        self.send_with: Sender = sender or smtp_sender(app)
        self.outbox = Outbox()
        self._environment: Optional[Environment] = None
        self._app = app

    def environment(self) -> Environment:
        """The app's Jinja environment, falling back to the package's templates."""
        if self._environment is None:
            app_env = self._app.jinja_env
            package = PackageLoader("flask_auth_service_mongo", "templates")
            loader = ChoiceLoader([app_env.loader, package] if app_env.loader else [package])
            self._environment = app_env.overlay(loader=loader)
        return self._environment

    def render(self, name: str, **context: Any) -> Message:
        """Message ``name`` (e.g. ``reset_password``) with ``context``."""
        env = self.environment()
        subject = env.get_template(f"{TEMPLATE_FOLDER}/{name}.subject.txt").render(**context)
        return Message(
            " ".join(subject.split()),  # one line: a header cannot break
            env.get_template(f"{TEMPLATE_FOLDER}/{name}.txt").render(**context),
            env.get_template(f"{TEMPLATE_FOLDER}/{name}.html").render(**context),
        )

    def send(self, to: str, message: Message) -> None:
        """Send now (the caller is the worker thread); raises when it fails.
        ``to`` must be one plain address: never a second recipient."""
        if not is_plain_address(to):
            raise ValueError("refusing to mail anything but one plain address")
        self.send_with(to, message.subject, message.text, message.html)


class Outbox:
    """A queue of jobs and one worker thread that runs them in an app context.

    The thread starts with the first job of the process (again after a fork),
    so an app that never mails never starts one. A full queue drops the job
    with a warning: a flood of requests cannot hold unbounded memory.
    """

    MAX_QUEUED = 1000

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Flask, Callable[[], None]]] = queue.Queue(self.MAX_QUEUED)
        self._lock = threading.Lock()
        self._pid: Optional[int] = None

    def submit(self, app: Flask, job: Callable[[], None]) -> bool:
        """Run ``job`` soon in the worker; False when the queue is full."""
        self._ensure_worker()
        try:
            self._jobs.put_nowait((app, job))
        except queue.Full:
            log.warning("the mail queue is full: a message was dropped")
            return False
        return True

    def wait(self) -> None:
        """Block until every submitted job has run (tests, a graceful stop)."""
        self._jobs.join()

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._work, name="flask-auth-service-mongo mail", daemon=True).start()

    def _work(self) -> None:
        while True:
            app, job = self._jobs.get()
            try:
                with app.app_context():
                    job()
            except Exception:  # noqa: BLE001 - one failed job must not stop the worker
                log.exception("a mail job failed")
            finally:
                self._jobs.task_done()

"""A real SMTP server on loopback (aiosmtpd) for the recovery tests.

``with SmtpServer() as smtp:`` listens on a free port of 127.0.0.1 in a
thread of its own; ``smtp.next_message()`` waits (bounded) for the next
message received and returns it parsed, with the envelope's recipients.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Optional

from aiosmtpd.controller import Controller
from wire_server import free_port

#: A bounded wait for a message that should come.
WAIT_SECONDS = 15


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    recipients: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        """The ``text/plain`` or ``text/html`` body."""
        found = self.message.get_body(preferencelist=(subtype,))
        assert found is not None, f"no text/{subtype} part"
        return found.get_content()

    def link(self) -> str:
        """The one link of the plain-text body."""
        links = re.findall(r"https?://\S+", self.part("plain"))
        assert len(links) == 1, links
        return links[0]

    def token(self) -> str:
        """The token at the end of the link (after ``=``)."""
        return self.link().rsplit("=", 1)[1]


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        received = Received(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            message_from_bytes(envelope.original_content or envelope.content, policy=policy.default),
        )
        with self.server.arrived:
            self.server.messages.append(received)
            self.server.arrived.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd's Controller on a free loopback port, keeping what it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Received] = []
        self.arrived = threading.Condition()
        self._taken = 0
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def config(self) -> dict:
        """Flask-Mailman's keys for sending here."""
        return {
            "MAIL_BACKEND": "smtp",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": self.port,
            "MAIL_DEFAULT_SENDER": "Accounts <accounts@example.test>",
        }

    def next_message(self, seconds: float = WAIT_SECONDS) -> Received:
        """The next message not yet taken, waiting for it at most ``seconds``."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.messages) > self._taken, seconds):
                raise AssertionError("no message arrived")
            self._taken += 1
            return self.messages[self._taken - 1]

    def pending(self) -> Optional[Received]:
        """A message received and not yet taken, without waiting."""
        with self.arrived:
            return self.messages[self._taken] if len(self.messages) > self._taken else None

"""Blinker signals for audit logs and notifications, sent with the app as sender.

Connect receivers with ``signals.user_logged_in.connect(receiver, app)`` (or
without a sender for every app). Each is sent from the one function where its
event happens; a receiver that raises is logged and does not change the answer.

- ``user_logged_in(user, session_id)``
- ``login_failed(username, reason)``: ``bad_credentials`` or ``locked_out``
- ``user_logged_out(user, session_id)``
- ``sessions_ended(user_id, session_ids, reason)``: ``logout_all``, ``revoked``,
  ``password_changed``, ``password_reset``, ``deactivated``, ``deleted``,
  ``refresh_reuse``, ``idle``, ``session_limit``, ``mfa_enrolled`` or
  ``mfa_removed`` (a second factor added or removed: the other sessions end)
- ``password_changed(user)``
- ``mfa_enrolled(user, method)``, ``mfa_removed(user, method)``: a second
  factor (``totp``, ``passkey``) added or removed (also by ``mfa-reset``)
- ``mfa_failed(user, method, reason)``: a second factor refused (a wrong
  ``totp`` or ``recovery_code``: reason ``bad_code``; a passkey whose counter
  went backwards: reason ``cloned_authenticator``)
- ``recovery_code_used(user, remaining)``: a recovery code was spent
"""

from __future__ import annotations

import logging
from typing import Any

from blinker import NamedSignal, Namespace
from flask import current_app, has_app_context

log = logging.getLogger("flask_auth_service_mongo")
_signals = Namespace()

user_logged_in = _signals.signal("user-logged-in")
login_failed = _signals.signal("login-failed")
user_logged_out = _signals.signal("user-logged-out")
sessions_ended = _signals.signal("sessions-ended")
password_changed = _signals.signal("password-changed")
mfa_enrolled = _signals.signal("mfa-enrolled")
mfa_removed = _signals.signal("mfa-removed")
mfa_failed = _signals.signal("mfa-failed")
recovery_code_used = _signals.signal("recovery-code-used")


def every() -> list[NamedSignal]:
    """Every signal declared here (the audit trail and the metrics receive them all)."""
    return list(_signals.values())


def send(signal: NamedSignal, **kwargs: Any) -> None:
    """Send ``signal`` from the current app; a failing receiver is logged, never raised.

    Outside an application (a model saved by a script) there is no sender: nothing is sent.
    """
    if not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a proxy, typed as Flask
    for receiver in signal.receivers_for(app):
        try:
            receiver(app, **kwargs)
        except Exception:  # noqa: BLE001 - a receiver's failure must not change the answer
            log.exception("a receiver of the %s signal failed", signal.name)


__all__ = [
    "every",
    "login_failed",
    "mfa_enrolled",
    "mfa_failed",
    "mfa_removed",
    "password_changed",
    "recovery_code_used",
    "sessions_ended",
    "user_logged_in",
    "user_logged_out",
]

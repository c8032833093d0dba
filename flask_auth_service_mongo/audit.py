"""The audit log: security events as log lines, with who and from where, never secrets."""

from __future__ import annotations

import logging
from typing import Any, Optional

from flask import Flask, has_request_context, request

from . import signals

log = logging.getLogger("flask_auth_service_mongo")


def _origin() -> Optional[str]:
    return request.remote_addr if has_request_context() else "the command line"


def _login_failed(app: Flask, username: str, reason: str, **kwargs: Any) -> None:
    if reason == "bad_credentials":
        log.warning("failed login for %r from %s", username[:128], _origin())


def _logged_out(app: Flask, user: Any, session_id: str, **kwargs: Any) -> None:
    log.info("logout: a session of user %s ended (from %s)", user.pk, _origin())


def _sessions_ended(app: Flask, user_id: Any, session_ids: list[str], reason: str, **kwargs: Any) -> None:
    if reason == "refresh_reuse":
        log.warning("refresh token replayed: session of user %s ended (from %s)", user_id, _origin())
    elif reason == "revoked":
        log.info("session revoked by user %s (from %s)", user_id, _origin())
    elif reason == "logout_all":
        log.info("logout everywhere: %d sessions of user %s ended (from %s)", len(session_ids), user_id, _origin())
    else:
        log.info("%d sessions of user %s ended: %s (from %s)", len(session_ids), user_id, reason, _origin())


def _mfa_enrolled(app: Flask, user: Any, method: str, **kwargs: Any) -> None:
    log.info("second factor %s added for user %s (from %s)", method, user.pk, _origin())


def _mfa_removed(app: Flask, user: Any, method: str, **kwargs: Any) -> None:
    log.warning("second factor %s removed for user %s (from %s)", method, user.pk, _origin())


def _mfa_failed(app: Flask, user: Any, method: str, reason: str = "bad_code", **kwargs: Any) -> None:
    log.warning("second factor %s refused (%s) for user %s from %s", method, reason, user.pk, _origin())


def _recovery_code_used(app: Flask, user: Any, remaining: int, **kwargs: Any) -> None:
    log.warning("recovery code used by user %s from %s: %d left", user.pk, _origin(), remaining)


def connect() -> None:
    """Connect the log lines to the signals of every app (again is harmless)."""
    signals.login_failed.connect(_login_failed)
    signals.user_logged_out.connect(_logged_out)
    signals.sessions_ended.connect(_sessions_ended)
    signals.mfa_enrolled.connect(_mfa_enrolled)
    signals.mfa_removed.connect(_mfa_removed)
    signals.mfa_failed.connect(_mfa_failed)
    signals.recovery_code_used.connect(_recovery_code_used)

"""The Flask extension object: configuration, connection, indexes, CLI, error handler."""

from __future__ import annotations

import logging
import time
from typing import Any, Optional

from flask import Flask
from pymongo.errors import PyMongoError

from . import (
    audit,
    cli,
    config,
    database,
    emails,
    events,
    factors,
    mail,
    metrics,
    mfa,
    mirror,
    models,
    passkeys,
    policies,
    propagation,
    throttle,
)
from .errors import AuthError, render
from .state import EXTENSION_KEY, State, get_state
from .store import SessionStore
from .tokens import ClaimsLoader, TokenCodec

log = logging.getLogger("flask_auth_service_mongo")

__all__ = ["AuthService", "get_state"]


class AuthService:
    """Login, logout and guarded routes with sessions kept in MongoDB.

    ``AuthService(app)`` or ``AuthService()`` then ``init_app(app)``.
    """

    def __init__(self, app: Flask | None = None, metrics_registry: Any = None):
        #: The prometheus_client registry of the metrics (``AUTH_METRICS``);
        #: None: prometheus_client's global ``REGISTRY``.
        self.metrics_registry = metrics_registry
        self._claims_loader: Optional[ClaimsLoader] = None
        self._codecs: list[TokenCodec] = []
        if app is not None:
            self.init_app(app)

    def additional_claims_loader(self, loader: ClaimsLoader) -> ClaimsLoader:
        """Register ``loader(user) -> dict``: its claims go into every access
        token (login, refresh, second factor) of the apps of this extension.
        Our registered claim names (``sub``, ``sid``, ``exp``...) are refused
        with an error when a token is issued. Use it as a decorator."""
        self._claims_loader = loader
        for codec in self._codecs:
            codec.claims_loader = loader
        return loader

    def init_app(self, app: Flask) -> None:
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("AuthService is already registered on this application")
        settings = config.load(app)
        db = database.open_database(settings.mongodb_uri, settings.mongodb_timeout_ms)
        database.connect_default(settings.mongodb_uri, settings.mongodb_timeout_ms)
        tokens = TokenCodec(
            settings.keys, settings.leeway_seconds, settings.token_cache_size, settings.issuer, settings.audience
        )
        tokens.claims_loader = self._claims_loader
        self._codecs.append(tokens)
        app_metrics = metrics.for_registry(self.metrics_registry) if settings.metrics else None
        store = SessionStore(
            db,
            cache=settings.session_cache and mirror.supported(settings.mongodb_uri, db),
            cache_max_lag_ms=settings.session_cache_max_lag_ms,
            cache_size=settings.session_cache_size,
            timeout_ms=settings.mongodb_timeout_ms,
            cache_listener=app_metrics,
        )
        session_policies = policies.app_policies(store, settings.session_idle_minutes, settings.max_sessions_per_user)
        mailer = mail.Mailer(app, settings.mail_sender) if settings.reset_url or settings.email_confirm_url else None
        checks = policies.request_checks(session_policies)
        state = State(settings, tokens, db, store, session_policies, mailer, app_metrics, checks)
        app.extensions[EXTENSION_KEY] = state
        propagation.connect()
        mfa.register_method(
            mfa.Method("passkey", "passkey", ("hwk",), passkeys.verify_second_factor, passkeys.has_passkeys, dict)
        )
        audit.connect()
        events.connect()
        metrics.connect()
        with app.app_context():
            if not _create_indexes():
                # The app still starts (and answers 503) while MongoDB is down,
                # and creates the indexes once it answers again.
                app.before_request(_IndexRetry())
        app.register_error_handler(AuthError, render)
        app.teardown_appcontext(throttle.end_open_attempts)
        app.cli.add_command(cli.group)


def _create_indexes() -> bool:
    try:
        models.ensure_indexes()
        throttle.ensure_index()
        events.ensure_indexes()
        passkeys.ensure_indexes()
        emails.ensure_indexes()
        factors.FactorStore(database.current_database(), ()).ensure_indexes()
    except PyMongoError as error:
        log.error("could not create the MongoDB indexes: %s", type(error).__name__)
        return False
    return True


class _IndexRetry:
    """A before-request hook that creates the indexes, at most one try per
    ``INTERVAL`` seconds, until it succeeds once."""

    INTERVAL = 30.0

    def __init__(self) -> None:
        self.done = False
        self.next_try = 0.0

    def __call__(self) -> None:
        if self.done or time.monotonic() < self.next_try:
            return
        self.next_try = time.monotonic() + self.INTERVAL
        self.done = _create_indexes()

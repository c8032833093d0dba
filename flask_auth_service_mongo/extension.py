"""The Flask extension object and the per-application state it keeps."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flask import Flask, current_app, jsonify
from pymongo.errors import PyMongoError

from . import config, database
from .errors import AuthError
from .tokens import TokenCodec

EXTENSION_KEY = "flask-auth-service-mongo"
log = logging.getLogger("flask_auth_service_mongo")


@dataclass(frozen=True)
class State:
    settings: config.Settings
    tokens: TokenCodec


def render_error(error: AuthError):
    """The JSON answer for an AuthError (an app may register its own)."""
    return jsonify(error.data), error.status, error.headers


class AuthService:
    """Login, logout and guarded routes with sessions kept in MongoDB.

    ``AuthService(app)`` or ``AuthService()`` then ``init_app(app)``.
    """

    def __init__(self, app: Flask | None = None):
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("AuthService is already registered on this application")
        from . import cli

        settings = config.load(app)
        database.connect(settings.mongodb_uri, settings.mongodb_timeout_ms)
        if not create_indexes():
            # The app still starts (and answers 503) while MongoDB is down,
            # and creates the indexes once it answers again.
            app.before_request(IndexRetry())
        tokens = TokenCodec(settings.keys, settings.leeway_seconds, settings.token_cache_size)
        app.extensions[EXTENSION_KEY] = State(settings, tokens)
        app.register_error_handler(AuthError, render_error)
        app.cli.add_command(cli.group)


def create_indexes() -> bool:
    from . import models, throttle

    try:
        models.ensure_indexes()
        throttle.ensure_index()
    except PyMongoError as error:
        log.error("could not create the MongoDB indexes: %s", type(error).__name__)
        return False
    return True


class IndexRetry:
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
        self.done = create_indexes()


def get_state(app: Flask | None = None) -> State:
    app = app or current_app
    try:
        return app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            "flask-auth-service-mongo is not initialised on this app: did you forget AuthService(app) or init_app(app)?"
        ) from None

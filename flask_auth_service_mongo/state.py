"""The per-application state of the extension (a leaf: imports nothing above it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from flask import Flask, current_app

from .config import Settings
from .tokens import TokenCodec

EXTENSION_KEY = "flask-auth-service-mongo"


@dataclass(frozen=True)
class State:
    """What ``init_app`` keeps in ``app.extensions``."""

    settings: Settings
    tokens: TokenCodec


def get_state(app: Optional[Flask] = None) -> State:
    """The state of ``app`` (default: the current app); RuntimeError before ``init_app``."""
    app = app or current_app
    try:
        state: State = app.extensions[EXTENSION_KEY]
        return state
    except KeyError:
        raise RuntimeError(
            "flask-auth-service-mongo is not initialised on this app: did you forget AuthService(app) or init_app(app)?"
        ) from None

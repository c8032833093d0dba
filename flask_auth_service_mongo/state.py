"""The per-application state of the extension (a leaf: imports nothing above it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from flask import Flask, current_app
from pymongo.database import Database

from .config import Settings
from .tokens import TokenCodec

if TYPE_CHECKING:
    from .mail import Mailer
    from .metrics import AuthMetrics
    from .policies import Policy
    from .store import SessionStore

EXTENSION_KEY = "flask-auth-service-mongo"


@dataclass(frozen=True)
class State:
    """What ``init_app`` keeps in ``app.extensions``."""

    settings: Settings
    tokens: TokenCodec
    database: Database[dict[str, Any]] = field(repr=False)
    store: SessionStore = field(repr=False)
    policies: tuple[Policy, ...] = ()  # the app's session policies (``policies.app_policies``)
    mailer: Optional[Mailer] = None  # when a mailed link is configured (AUTH_RESET_URL...)
    metrics: Optional[AuthMetrics] = None  # with AUTH_METRICS
    checks: tuple[Policy, ...] = ()  # those of ``policies`` that check each request


def get_state(app: Optional[Flask] = None) -> State:
    """The state of ``app`` (default: the current app); RuntimeError before ``init_app``."""
    if app is None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # a proxy, typed as Flask
    try:
        state: State = app.extensions[EXTENSION_KEY]
        return state
    except KeyError:
        raise RuntimeError(
            "flask-auth-service-mongo is not initialised on this app: did you forget AuthService(app) or init_app(app)?"
        ) from None


def current_app_state() -> Optional[State]:
    """The current app's state, or None when the extension is not on it."""
    state: Optional[State] = current_app.extensions.get(EXTENSION_KEY)
    return state

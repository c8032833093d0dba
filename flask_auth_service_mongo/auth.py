"""Guarding views: find the request's token, check it and its session, the role.

``authenticate`` finds who made the request, ``authorize`` checks the role;
``required`` is their decorator form and ``verify_token`` the same check for
a token obtained some other way.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Optional, Union

from bson import ObjectId
from flask import Flask, current_app, g
from flask import Response as FlaskResponse

from . import cache, service, sessions, transport
from .apidoc import mark_guarded
from .database import unavailable_on_error
from .errors import AuthError, Forbidden, FreshLoginRequired, PasswordChangeRequired, Unauthorized
from .models import User
from .state import get_state
from .tokens import ACCESS, subject_id
from .transport import parse_authorization_header

RoleSpec = Union[None, str, Iterable[str]]
Freshness = Union[None, int, timedelta]
#: A view function, or a helper that returns a view's answer.
ViewFunc = Callable[..., Any]
_IDENTITY = "_flask_auth_service_mongo_identity"
_REFUSAL = "_flask_auth_service_mongo_refusal"


@dataclass(frozen=True)
class Identity:
    """Who made the request: from the token's claims and the live session."""

    user_id: ObjectId
    session_id: str
    role: Optional[str]
    change_password: bool
    token: str
    authenticated_at: Optional[datetime] = None  # the session's last password check
    user: Optional[User] = None  # loaded on demand (at once without sessions)
    user_stamp: Optional[str] = None  # the session's version of its user


def allowed_roles(role: RoleSpec) -> Optional[frozenset[str]]:
    if role is None:
        return None
    return frozenset([role] if isinstance(role, str) else role)


def identify(token: str) -> Identity:
    """Check ``token`` and its session; the identity behind it."""
    state = get_state()
    claims = state.tokens.decode(token, ACCESS)
    user_id = subject_id(claims)
    with unavailable_on_error():
        if not state.settings.white_list_token:
            user = User.find_active(user_id)
            if user is None:
                raise Unauthorized()
            return Identity(user_id, claims["sid"], user.role_name, bool(user.change_password), token, user=user)
        now = sessions.utcnow()
        session = sessions.find_live(claims["sid"], user_id, now)
        if session is None or service.end_if_idle(user_id, claims["sid"], session.get("last_used_at"), now):
            state.tokens.forget(token)
            raise Unauthorized()
        sessions.touch(
            claims["sid"], user_id, session.get("last_used_at"), now, state.settings.last_used_interval_seconds
        )
    return Identity(
        user_id,
        claims["sid"],
        session.get("role"),
        bool(session.get("change_password")),
        token,
        session.get("authenticated_at"),
        user_stamp=session.get("user_stamp"),
    )


def authenticate() -> Identity:
    """The identity behind the request's token.

    A token from a cookie must come with the session's CSRF token on unsafe
    methods (checked before any database read). Checked once a request,
    refused or not: a refusal is remembered too, so GraphQL aliases cannot
    multiply the session reads.
    """
    identity = current_identity()
    if identity is not None:
        return identity
    refusal = g.get(_REFUSAL)
    if refusal is not None:
        raise refusal.with_traceback(None)
    try:
        found = transport.request_token()
        if found is None:
            raise Unauthorized()
        if found.from_cookie:
            transport.require_csrf(get_state().tokens.decode(found.token, ACCESS)["sid"])
        identity = identify(found.token)
    except AuthError as error:
        setattr(g, _REFUSAL, error)
        raise
    setattr(g, _IDENTITY, identity)
    return identity


def freshness(fresh: Freshness) -> Optional[timedelta]:
    """``fresh`` (seconds or a timedelta) as a timedelta; ValueError when negative."""
    if fresh is None:
        return None
    window = fresh if isinstance(fresh, timedelta) else timedelta(seconds=fresh)
    if window < timedelta(0):
        raise ValueError("fresh must not be negative")
    return window


def authorize(
    identity: Identity,
    roles: Optional[frozenset[str]],
    require_password_change: Optional[bool] = None,
    fresh: Optional[timedelta] = None,
) -> None:
    """Refuse ``identity`` unless its role is in ``roles`` (None: any role),
    when required (default ``AUTH_REQUIRE_PASSWORD_CHANGE``) it need not change
    its password first, and its password was checked within ``fresh``."""
    if roles is not None and identity.role not in roles:
        raise Forbidden()
    if require_password_change is None:
        require_password_change = get_state().settings.require_password_change
    if require_password_change and identity.change_password:
        raise PasswordChangeRequired()
    if fresh is not None:
        checked = identity.authenticated_at
        if checked is None or sessions.utcnow() - checked > fresh:
            raise FreshLoginRequired()


def verify_request(
    role: RoleSpec = None, require_password_change: Optional[bool] = None, fresh: Freshness = None
) -> Identity:
    """Authenticate the current request and authorise ``role``; raises AuthError."""
    identity = authenticate()
    authorize(identity, allowed_roles(role), require_password_change, freshness(fresh))
    return identity


def required(
    role: RoleSpec = None, require_password_change: Optional[bool] = None, fresh: Freshness = None
) -> Callable[[ViewFunc], ViewFunc]:
    """Decorator for Flask views and flask-restx methods.

    ``role`` is a role name or a list of them; ``require_password_change``
    refuses users who must change their password first (default from
    ``AUTH_REQUIRE_PASSWORD_CHANGE``); ``fresh`` (seconds or a timedelta)
    refuses a session whose password was last checked longer ago
    (``401 fresh_login_required``: log in again or ``api_rest.reauthenticate()``).
    On a flask-restx method it also documents the Bearer security and the
    401/403 answers in Swagger.
    """
    roles, window = allowed_roles(role), freshness(fresh)

    def decorator(view: ViewFunc) -> ViewFunc:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                authorize(authenticate(), roles, require_password_change, window)
            except AuthError as error:
                return refusal_response(error)
            return current_app.ensure_sync(view)(*args, **kwargs)

        mark_guarded(wrapper, roles, fresh=window is not None)
        return wrapper

    return decorator


def refusal_response(error: AuthError) -> FlaskResponse:
    """The response for ``error`` from the app's handler for it.

    Through Flask's own handler lookup: flask-restx replaces it on the app
    instance with one that ignores app handlers for HTTP exceptions.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # a proxy, typed as Flask
    return app.make_response(Flask.handle_user_exception(app, error))


def answers_refusals(helper: ViewFunc) -> ViewFunc:
    """Let a helper return the refusal response instead of raising it, so it
    reads the same under plain Flask and flask-restx."""

    @functools.wraps(helper)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return helper(*args, **kwargs)
        except AuthError as error:
            return refusal_response(error)

    return wrapper


def current_identity() -> Optional[Identity]:
    """The identity this request authenticated as, if it did."""
    identity: Optional[Identity] = g.get(_IDENTITY)
    return identity


def current_user() -> Optional[User]:
    """The authenticated user of this request, loaded on first use, or None.

    Raises Unauthorized when the user was deleted or disabled since the check.
    """
    identity = current_identity()
    if identity is None:
        return None
    if identity.user is None:
        identity = dataclasses.replace(identity, user=_load_user(identity))
        setattr(g, _IDENTITY, identity)
    return identity.user


def _load_user(identity: Identity) -> User:
    """The active user behind ``identity`` (kept per process for its session's
    user stamp); Unauthorized when it was deleted or disabled."""
    if identity.user is not None:
        return identity.user
    with unavailable_on_error():
        user: Optional[User] = cache.find_active_user(identity.user_id, identity.user_stamp, User.find_active)
    if user is None:
        raise Unauthorized()
    return user


def verify_token(token: str) -> User:
    """Full check of an access token; the active user it belongs to."""
    if not isinstance(token, str) or not token:
        raise Unauthorized()
    return _load_user(identify(token))


def logout_user(user: User) -> int:
    """End every session of ``user`` (admin use); returns how many ended."""
    return service.logout_user(user.pk)


__all__ = [
    "authenticate",
    "authorize",
    "current_user",
    "logout_user",
    "parse_authorization_header",
    "required",
    "verify_request",
    "verify_token",
]

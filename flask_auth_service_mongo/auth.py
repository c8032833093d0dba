"""Guarding views: find the request's token, check it and its session, the role.

``authenticate`` finds who made the request, ``authorize`` checks the role;
``required`` is their decorator form and ``verify_token`` the same check for
a token obtained some other way.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional, Union

from bson import ObjectId
from flask import Flask, current_app, g, request
from flask import Response as FlaskResponse

from . import metrics, personal_tokens, signin, transport
from .apidoc import mark_guarded
from .clock import utcnow
from .config import Settings
from .database import DATABASE_ERRORS, raise_unavailable, unavailable_on_error
from .errors import AuthError, Forbidden, InvalidToken, Unauthorized
from .mirror import NOT_HELD
from .models import User
from .policies import (
    ENROLMENT_FRESH,
    AssuranceLevel,
    FreshLogin,
    MfaEnrolled,
    PasswordChanged,
    Policy,
    RoleAllowed,
    ScopeGranted,
    SessionsOnly,
    assurance_level,
)
from .records import SessionRecord
from .state import State, get_state
from .store import SESSION, TOKEN
from .tokens import ACCESS, CachedClaims, subject_id
from .transport import parse_authorization_header

RoleSpec = Union[None, str, Iterable[str]]
ScopeSpec = Union[None, str, Iterable[str]]
Freshness = Union[None, int, timedelta]
#: A view function, or a helper that returns a view's answer.
ViewFunc = Callable[..., Any]
#: In ``g``: the request's check, its Identity or its refusal (an AuthError).
_CHECKED = "_flask_auth_service_mongo_checked"
_USER = "_flask_auth_service_mongo_user"
EMPTY: Mapping[str, Any] = MappingProxyType({})


class Identity(NamedTuple):
    """Who made the request: from the token's claims and the live session
    (immutable, and cheap to build: one a guarded request)."""

    user_id: ObjectId
    session_id: str
    role: Optional[str]
    change_password: bool
    authenticated_at: Optional[datetime] = None  # the session's last check of the credentials
    last_used_at: Optional[datetime] = None
    amr: tuple[str, ...] = ("pwd",)
    acr: str = "aal1"
    kind: str = "session"  # or "pat", a personal access token
    scopes: frozenset[str] = frozenset()
    record: Optional[SessionRecord] = None
    user: Optional[User] = None  # loaded on demand (at once without sessions)
    claims: Mapping[str, Any] = EMPTY  # of the access token (none for a PAT)

    def __repr__(self) -> str:  # without the record, the user and the claims
        fields = self._fields[: self._fields.index("record")]
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
        return f"Identity({shown})"


def allowed_roles(role: RoleSpec) -> Optional[frozenset[str]]:
    if role is None:
        return None
    return frozenset([role] if isinstance(role, str) else role)


def allowed_scopes(scope: ScopeSpec) -> Optional[frozenset[str]]:
    """``scope`` (a name or a list of them) as a set; ValueError for a name
    that is no scope name, or an empty list (a route no one may call)."""
    if scope is None:
        return None
    names = frozenset([scope] if isinstance(scope, str) else scope)
    if not names or not all(personal_tokens.valid_scope(name) for name in names):
        raise ValueError(f"scope must be a scope name or a non-empty list of them, got {scope!r}")
    return names


def identify(token: str, state: Optional[State] = None, now: Optional[datetime] = None) -> Identity:
    """Check ``token`` and its session (with its user and role as they are
    now, and the app's policies, at ``now``); the identity behind it. A
    token with the prefix of personal access tokens is one (no JWT is
    decoded for it)."""
    state = state or get_state()
    if personal_tokens.has_prefix(token):
        return identify_personal(token, state)
    return identify_session(token, state.tokens.decode(token, ACCESS), state, now)


def identify_session(token: str, claims: Mapping[str, Any], state: State, now: Optional[datetime] = None) -> Identity:
    """Check the session of an access token whose ``claims`` were verified
    (at ``now``, default the present)."""
    user_id = subject_id(claims)
    try:  # unavailable_on_error, without a context manager's two calls
        if not state.settings.white_list_token:
            user = User.find_active(user_id)
            if user is None:
                raise Unauthorized()
            return Identity(
                user_id, claims["sid"], user.role_name, bool(user.change_password), user=user, claims=claims
            )
        now = now or utcnow()
        return _checked(state.store.find_live(claims["sid"], user_id, now), SESSION, now, state, claims, token)
    except DATABASE_ERRORS as error:
        raise_unavailable(error)


def identify_personal(token: str, state: State) -> Identity:
    """Check a personal access token: its shape (``invalid_token``), then its
    digest among the live tokens (``unauthorized``: unknown, revoked, expired),
    with its user and role as they are now."""
    if not personal_tokens.well_formed(token):
        raise InvalidToken()
    with unavailable_on_error():
        now = utcnow()
        return _checked(state.store.find_token(personal_tokens.digest(token), now), TOKEN, now, state)


def _checked(
    record: Optional[SessionRecord],
    kind: str,
    now: datetime,
    state: State,
    claims: Mapping[str, Any] = EMPTY,
    token: Optional[str] = None,
) -> Identity:
    """The identity of ``record``, a live record of ``kind`` (``SESSION``, of the
    access token ``token`` and its ``claims``; ``TOKEN``, a personal access
    token), once the app's policies pass it; its last use recorded (at most
    once per ``AUTH_LAST_USED_INTERVAL_SECONDS``).

    Unauthorized when ``record`` is None (ended, expired, or its user disabled
    or deleted) or of another kind; the access token is forgotten then."""
    if record is None or record.kind != kind:
        state.tokens.forget(token)
        raise Unauthorized()
    last_used_at = record.last_used_at
    identity = Identity(
        record.user_id,
        record.session_id,
        record.role,
        record.change_password,
        record.authenticated_at,
        last_used_at,
        record.amr,
        record.acr,
        record.kind,
        record.scopes,
        record,
        None,
        claims,
    )
    for policy in state.checks:
        policy.check(identity, now)
    if last_used_at is None or (now - last_used_at).total_seconds() >= state.settings.last_used_interval_seconds:
        state.store.touch(record, now)
    return identity


def authenticate(state: Optional[State] = None, now: Optional[datetime] = None) -> Identity:
    """The identity behind the request's token (checked at ``now``, default
    the present).

    A token from a cookie must come with the session's CSRF token on unsafe
    methods (checked before any database read). Checked once a request,
    refused or not: a refusal is remembered too, so GraphQL aliases cannot
    multiply the session reads.
    """
    request_globals: dict[str, Any] = vars(g._get_current_object())  # a dict lookup costs no method call
    checked: Union[Identity, AuthError, None] = request_globals.get(_CHECKED)
    if isinstance(checked, Identity):
        return checked
    if checked is not None:
        raise checked.with_traceback(None)
    try:
        state = state or get_state()
        now = now or utcnow()
        identity = cached_identity(state, now) or checked_identity(state, now)
    except AuthError as error:
        request_globals[_CHECKED] = error
        raise
    request_globals[_CHECKED] = identity
    return identity


def cached_identity(state: State, now: datetime) -> Optional[Identity]:
    """The hot path, in one function: a Bearer access token that the token
    cache verified, whose session this process's mirror holds while proven
    current. None for anything else: ``checked_identity`` then decides. Each
    test here is one of its own, so this passes nothing it would refuse."""
    if not state.settings.white_list_token or "headers" not in state.settings.token_location:
        return None
    environ = request._get_current_object().environ  # type: ignore[attr-defined]  # one proxy lookup
    token = parse_authorization_header(environ.get("HTTP_AUTHORIZATION"))
    if token is None:
        return None
    entry = state.tokens.cached(token)
    if entry is None:
        return None
    mirror = state.store.local_mirror()
    if mirror is None:
        return None
    record = mirror.held(entry[2], entry[1], now)  # its sid, its user id
    if record is NOT_HELD:
        return None
    try:
        return _checked(record, SESSION, now, state, CachedClaims(token, entry), token)
    except DATABASE_ERRORS as error:
        raise_unavailable(error)


def checked_identity(state: State, now: datetime) -> Identity:
    """The request's token found where ``AUTH_TOKEN_LOCATION`` says, a
    cookie's with its CSRF token on unsafe methods (before any database
    read), then checked with its session."""
    found = transport.request_token(state.settings.token_location)
    if found is None:
        raise Unauthorized()
    token = found.token
    if token.startswith(personal_tokens.PREFIX):
        if found.from_cookie:
            raise InvalidToken()  # access tokens travel in the Authorization header only
        return identify_personal(token, state)
    claims = state.tokens.decode(token, ACCESS)  # once: for the CSRF check and the session's
    if found.from_cookie:
        transport.require_csrf(claims["sid"])
    return identify_session(token, claims, state, now)


#: Account operations (passkeys, factors, tokens) ask for a login this recent.
ACCOUNT_FRESH = timedelta(minutes=5)


def account_caller() -> Identity:
    """The caller of an account operation: a login session (never an access
    token) whose credentials were checked within ``ACCOUNT_FRESH``."""
    identity = authenticate_session()
    check_policies(identity, [FreshLogin(ACCOUNT_FRESH)])
    return identity


def freshness(fresh: Freshness) -> Optional[timedelta]:
    """``fresh`` (seconds or a timedelta) as a timedelta; ValueError when negative."""
    if fresh is None:
        return None
    window = fresh if isinstance(fresh, timedelta) else timedelta(seconds=fresh)
    if window < timedelta(0):
        raise ValueError("fresh must not be negative")
    return window


def route_policies(
    roles: Optional[frozenset[str]],
    require_password_change: Optional[bool],
    fresh: Optional[timedelta],
    scopes: Optional[frozenset[str]] = None,
    acr: Optional[str] = None,
    mfa_enrolment: bool = False,
) -> list[Policy]:
    """The policies of a guarded route (``require_password_change`` None:
    ``AUTH_REQUIRE_PASSWORD_CHANGE``, read when the route is checked;
    ``scopes`` None: no personal access token passes).

    Unless the route is open to enrolment (``mfa_enrolment``), a session of
    ``AUTH_MFA_REQUIRED_ROLES`` without a second factor is refused."""
    chosen: list[Policy] = [SessionsOnly() if scopes is None else ScopeGranted(scopes)]
    if not mfa_enrolment:
        chosen.append(_DefaultMfaEnrolled())
    if roles is not None:
        chosen.append(RoleAllowed(roles))
    if require_password_change is None:
        chosen.append(_DefaultPasswordChange())
    elif require_password_change:
        chosen.append(PasswordChanged())
    if acr is not None:
        chosen.append(AssuranceLevel(assurance_level(acr)))
    if fresh is not None:
        chosen.append(FreshLogin(fresh))
    return chosen


class _AppDefault(Policy):
    """A route policy whose form is the app's setting: resolved once per app
    by ``required``, from its settings at each check elsewhere."""

    def resolved(self, settings: Settings) -> Optional[Policy]:
        raise NotImplementedError

    def check(self, identity: Identity, now: datetime) -> None:
        policy = self.resolved(get_state().settings)
        if policy is not None:
            policy.check(identity, now)


class _DefaultMfaEnrolled(_AppDefault):
    """``MfaEnrolled`` for the app's ``AUTH_MFA_REQUIRED_ROLES``."""

    def resolved(self, settings: Settings) -> Optional[Policy]:
        roles = settings.mfa_required_roles
        return MfaEnrolled(frozenset(roles)) if roles else None


class _DefaultPasswordChange(_AppDefault):
    """``PasswordChanged`` when the app's ``AUTH_REQUIRE_PASSWORD_CHANGE`` is on."""

    def resolved(self, settings: Settings) -> Optional[Policy]:
        return PasswordChanged() if settings.require_password_change else None


class AppPolicies:
    """A route's policies with the defaults of each app resolved, kept per app
    (an app's state is not kept alive by it)."""

    def __init__(self, policies: list[Policy]):
        self.policies = policies
        self.by_app: dict[int, tuple[weakref.ref[State], tuple[Policy, ...]]] = {}

    def of(self, state: State) -> tuple[Policy, ...]:
        found = self.by_app.get(id(state))
        if found is None or found[0]() is not state:
            resolved = [p.resolved(state.settings) if isinstance(p, _AppDefault) else p for p in self.policies]
            found = self.by_app[id(state)] = (weakref.ref(state), tuple(p for p in resolved if p is not None))
        return found[1]


def authorize(
    identity: Identity,
    roles: Optional[frozenset[str]],
    require_password_change: Optional[bool] = None,
    fresh: Optional[timedelta] = None,
    scopes: Optional[frozenset[str]] = None,
    acr: Optional[str] = None,
    mfa_enrolment: bool = False,
) -> None:
    """Refuse ``identity`` unless its role is in ``roles`` (None: any role),
    when required (default ``AUTH_REQUIRE_PASSWORD_CHANGE``) it need not change
    its password first, its password was checked within ``fresh``, it holds
    one of ``scopes`` (None: it is a login session, not a token), and its
    session reached ``acr`` (see ``route_policies`` for ``mfa_enrolment``)."""
    check_policies(identity, route_policies(roles, require_password_change, fresh, scopes, acr, mfa_enrolment))


def check_policies(identity: Identity, policies: list[Policy]) -> None:
    """Run each of ``policies`` on ``identity``; the first refusal is raised."""
    now = utcnow()
    for policy in policies:
        policy.check(identity, now)


def verify_request(
    role: RoleSpec = None,
    require_password_change: Optional[bool] = None,
    fresh: Freshness = None,
    scope: ScopeSpec = None,
    acr: Optional[str] = None,
    mfa_enrolment: bool = False,
) -> Identity:
    """Authenticate the current request and authorise it as ``required`` would; raises AuthError."""
    identity = authenticate()
    authorize(
        identity,
        allowed_roles(role),
        require_password_change,
        freshness(fresh),
        allowed_scopes(scope),
        acr,
        mfa_enrolment,
    )
    return identity


def authenticate_session() -> Identity:
    """The identity of the request's login session: ``403 forbidden`` for a
    personal access token (the account endpoints: password, factors, tokens)."""
    identity = authenticate()
    if identity.kind == TOKEN:
        raise Forbidden()
    return identity


def required(
    role: RoleSpec = None,
    require_password_change: Optional[bool] = None,
    fresh: Freshness = None,
    scope: ScopeSpec = None,
    acr: Optional[str] = None,
    mfa_enrolment: bool = False,
) -> Callable[[ViewFunc], ViewFunc]:
    """Decorator for Flask views and flask-restx methods.

    ``role`` is a role name or a list of them; ``require_password_change``
    refuses users who must change their password first (default from
    ``AUTH_REQUIRE_PASSWORD_CHANGE``); ``fresh`` (seconds or a timedelta)
    refuses a session whose password was last checked longer ago
    (``401 fresh_login_required``: log in again or ``api_rest.reauthenticate()``;
    for a user with a second factor, both ask for its code too; a personal
    access token never passes it: ``403 forbidden``); ``scope`` (a scope name
    or a list of them) admits a personal access token holding one of them,
    and a session whose role holds one. A route without ``scope`` refuses
    tokens (``403 insufficient_scope``). ``acr`` (``"aal2"``) refuses a
    session below that assurance level (RFC 9470: ``401
    insufficient_user_authentication``); ``mfa_enrolment`` opens the route to
    sessions that ``AUTH_MFA_REQUIRED_ROLES`` confines to enrolling a second
    factor (``403 mfa_enrolment_required`` elsewhere). On a flask-restx method
    it also documents the Bearer security and the 401/403 answers in Swagger.
    """
    roles, window, scopes = allowed_roles(role), freshness(fresh), allowed_scopes(scope)
    policies = AppPolicies(route_policies(roles, require_password_change, window, scopes, acr, mfa_enrolment))

    def decorator(view: ViewFunc) -> ViewFunc:
        asynchronous = inspect.iscoroutinefunction(view)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            state, now = get_state(), utcnow()
            try:
                identity = authenticate(state, now)
                for policy in policies.of(state):
                    policy.check(identity, now)
            except AuthError as error:
                metrics.count_guarded(error.message, state)
                return refusal_response(error)
            if state.metrics is not None:
                metrics.count_guarded(metrics.GUARD_OK, state)
            if asynchronous:
                return current_app.ensure_sync(view)(*args, **kwargs)
            return view(*args, **kwargs)

        mark_guarded(wrapper, roles, fresh=window is not None, scopes=scopes)
        return wrapper

    return decorator


def second_factor_caller() -> tuple[Identity, User]:
    """The caller of a second-factor operation (enrolment, removal, new
    recovery codes) and its user: a login session, not a personal access
    token (Forbidden), whose credentials were checked within
    ``ENROLMENT_FRESH``; open to a session confined to enrolment."""
    identity = authenticate_session()
    authorize(identity, None, None, ENROLMENT_FRESH, mfa_enrolment=True)
    return identity, _load_user(identity)


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
    checked = g.get(_CHECKED)
    return checked if isinstance(checked, Identity) else None


def current_claims() -> dict[str, Any]:
    """The verified claims of the request's access token (those of the app's
    ``additional_claims_loader`` among them); empty before authentication
    and for a personal access token."""
    identity = current_identity()
    return dict(identity.claims) if identity is not None else {}


def current_user() -> Optional[User]:
    """The authenticated user of this request, loaded on first use, or None.

    Raises Unauthorized when the user was deleted or disabled since the check.
    """
    request_globals: dict[str, Any] = vars(g._get_current_object())
    identity = request_globals.get(_CHECKED)
    if not isinstance(identity, Identity):
        return None
    if identity.user is not None:
        return identity.user
    user: Optional[User] = request_globals.get(_USER)
    if user is None:
        user = request_globals[_USER] = _load_user(identity)
    return user


def _load_user(identity: Identity) -> User:
    """The user behind ``identity``, as its session check read it (a new
    object for each request); Unauthorized when it is gone."""
    if identity.user is not None:
        return identity.user
    record = identity.record
    if record is None:
        raise Unauthorized()
    return User.from_record(record)


def verify_token(token: str) -> User:
    """Full check of an access token; the active user it belongs to."""
    if not isinstance(token, str) or not token:
        raise Unauthorized()
    return _load_user(identify(token))


def logout_user(user: User) -> int:
    """End every session of ``user`` (admin use); returns how many ended."""
    return signin.logout_all(user.pk)


__all__ = [
    "authenticate",
    "authenticate_session",
    "authorize",
    "current_claims",
    "current_user",
    "logout_user",
    "parse_authorization_header",
    "required",
    "verify_request",
    "verify_token",
]

"""Session policies: small objects the guard and the flows run at fixed points.

A guarded request runs ``check(identity, now)`` of the app's policies (from
``AUTH_*`` keys, built by ``init_app``), then of its route's
(``auth.required``'s arguments); opening a session runs ``opened`` of the
app's policies. Each refusal is an ``AuthError``. Adding a policy is one
subclass of ``Policy`` here and, where the app chooses it, one config key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Optional

from bson import ObjectId

from .errors import (
    Forbidden,
    FreshLoginRequired,
    InsufficientScope,
    InsufficientUserAuthentication,
    MfaEnrolmentRequired,
    PasswordChangeRequired,
    Unauthorized,
)
from .store import TOKEN

if TYPE_CHECKING:
    from .auth import Identity
    from .store import SessionStore


class Policy:
    """The hooks of a policy; each does nothing unless a policy says otherwise."""

    def check(self, identity: Identity, now: datetime) -> None:
        """At every guarded request: refuse ``identity`` (raise an AuthError) or let it pass."""

    def opened(self, user_id: ObjectId, now: datetime) -> None:
        """After a session of ``user_id`` was opened."""

    def cutoff(self, now: datetime) -> Optional[datetime]:
        """Sessions last used at or before this are over (refresh, listing); None: no bound."""
        return None


@dataclass(frozen=True)
class RoleAllowed(Policy):
    """The session's role is one of ``roles``."""

    roles: frozenset[str]

    def check(self, identity: Identity, now: datetime) -> None:
        if identity.role not in self.roles:
            raise Forbidden()


@dataclass(frozen=True)
class PasswordChanged(Policy):
    """A user who must change their password may not pass (``require_password_change``)."""

    def check(self, identity: Identity, now: datetime) -> None:
        if identity.change_password:
            raise PasswordChangeRequired()


@dataclass(frozen=True)
class FreshLogin(Policy):
    """The credentials were checked within ``window`` (``fresh=``)."""

    window: timedelta

    def check(self, identity: Identity, now: datetime) -> None:
        if identity.kind == TOKEN:
            raise Forbidden()  # no credentials were checked: a token never is fresh
        checked = identity.authenticated_at
        if checked is None or now - checked > self.window:
            raise FreshLoginRequired()


#: Second-factor operations (enrolment, removal) need credentials checked this recently.
ENROLMENT_FRESH = timedelta(minutes=5)
#: Assurance levels (``acr``), lowest first: a password alone is aal1, with a
#: second factor aal2 (NIST SP 800-63B's names).
LEVELS = ("aal1", "aal2", "aal3")


def level_rank(acr: Optional[str]) -> int:
    """How strong an ``acr`` is (0 for an unknown value)."""
    return LEVELS.index(acr) + 1 if acr in LEVELS else 0


def assurance_level(acr: str) -> str:
    """``acr`` when it is a level of ``LEVELS``; ValueError otherwise."""
    if acr not in LEVELS:
        raise ValueError(f"acr must be one of {', '.join(LEVELS)}, got {acr!r}")
    return acr


@dataclass(frozen=True)
class AssuranceLevel(Policy):
    """RFC 9470 step-up (``acr=``): a login session at ``acr`` or above;
    personal access tokens never pass."""

    acr: str

    def check(self, identity: Identity, now: datetime) -> None:
        if identity.kind == TOKEN or level_rank(identity.acr) < level_rank(self.acr):
            raise InsufficientUserAuthentication(self.acr)


@dataclass(frozen=True)
class MfaEnrolled(Policy):
    """``AUTH_MFA_REQUIRED_ROLES``: a session of such a role below aal2 (its
    user signed in without a second factor, so has none) passes only routes
    open to enrolment (``auth.required(mfa_enrolment=True)``)."""

    roles: frozenset[str]

    def check(self, identity: Identity, now: datetime) -> None:
        if identity.role in self.roles and identity.kind != TOKEN and level_rank(identity.acr) < level_rank("aal2"):
            raise MfaEnrolmentRequired()


@dataclass(frozen=True)
class ScopeGranted(Policy):
    """The identity holds one of ``scopes`` (``scope=``): a token those it was
    given (while its role grants them), a session every scope of its role."""

    scopes: frozenset[str]

    def check(self, identity: Identity, now: datetime) -> None:
        if not identity.scopes & self.scopes:
            raise InsufficientScope(self.scopes)


@dataclass(frozen=True)
class SessionsOnly(Policy):
    """A route that names no scope admits no personal access token: a token
    does only what some route says it may."""

    def check(self, identity: Identity, now: datetime) -> None:
        if identity.kind == TOKEN:
            raise InsufficientScope()


@dataclass(frozen=True)
class IdleTimeout(Policy):
    """``AUTH_SESSION_IDLE_MINUTES``: a session unused this long ends (a
    personal access token lives until its own expiry)."""

    minutes: int
    store: SessionStore

    def cutoff(self, now: datetime) -> datetime:
        """Sessions last used at or before this are idle."""
        return now - timedelta(minutes=self.minutes)

    def is_idle(self, last_used_at: Optional[datetime], now: datetime) -> bool:
        return last_used_at is None or last_used_at <= self.cutoff(now)

    def check(self, identity: Identity, now: datetime) -> None:
        if identity.kind != TOKEN and self.is_idle(identity.last_used_at, now):
            self.store.end(identity.user_id, "idle", [identity.session_id])
            raise Unauthorized()


@dataclass(frozen=True)
class SessionCap(Policy):
    """``AUTH_MAX_SESSIONS_PER_USER``: after a login, the least recently used
    sessions past the limit end."""

    limit: int
    store: SessionStore

    def opened(self, user_id: ObjectId, now: datetime) -> None:
        self.store.end(user_id, "session_limit", self.store.beyond_limit(user_id, now, self.limit))


def app_policies(store: SessionStore, idle_minutes: int, max_sessions: int) -> tuple[Policy, ...]:
    """The policies an app's configuration chooses."""
    chosen: list[Policy] = []
    if idle_minutes:
        chosen.append(IdleTimeout(idle_minutes, store))
    if max_sessions:
        chosen.append(SessionCap(max_sessions, store))
    return tuple(chosen)


def request_checks(chosen: tuple[Policy, ...]) -> tuple[Policy, ...]:
    """Those of ``chosen`` that check each request (the others act at login only)."""
    return tuple(policy for policy in chosen if type(policy).check is not Policy.check)


def session_cutoff(policies: tuple[Policy, ...], now: datetime) -> Optional[datetime]:
    """The latest cutoff of ``policies``: sessions used at or before it are over."""
    cutoffs = [c for c in (p.cutoff(now) for p in policies) if c is not None]
    return max(cutoffs) if cutoffs else None

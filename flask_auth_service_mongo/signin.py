"""Signing in and out, whatever the transport: the session's life.

Login is two steps with a seam between them: ``verify_credentials`` checks
the password (counted by the throttle) and ``open_session`` opens the
session with the assurance reached (``amr``, ``acr``). A second factor or a
passkey sits between the two; ``login`` is both for a password alone.
Refresh, logout, listing and fresh re-authentication follow. Each function
takes plain values and returns a plain result (``records``) or raises an
``AuthError``; sessions end only through the store (``store.end``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable, NoReturn, Optional

from bson import ObjectId

from . import signals, throttle
from .clock import epoch, utcnow
from .database import unavailable_on_error
from .errors import BadCredentials, NotFound, TooManyAttempts, Unauthorized
from .models import User, canonical_username
from .passwords import check_password, hash_password, hash_rounds
from .policies import session_cutoff
from .records import Client, SessionInfo, TokenPair
from .state import get_state
from .store import new_session_id, password_kept
from .tokens import ACCESS, REFRESH, subject_id

PASSWORD_ONLY = ("pwd",)


def verify_credentials(username: str, password: str, roles: Optional[frozenset[str]], client: Client) -> User:
    """The active user whose password this is (and whose role is allowed);
    BadCredentials for any refusal, TooManyAttempts when locked out."""
    settings = get_state().settings
    username = canonical_username(username)
    with unavailable_on_error():
        take_attempt(username, client)
        user = User.find_by_username(username)
        matches = check_password(password, user.password if user else None, settings.bcrypt_rounds)
        role_name = user.role_name if user is not None else None
        if user is None or not matches or not user.active or (roles is not None and role_name not in roles):
            signals.send(signals.login_failed, username=username, reason="bad_credentials")
            raise BadCredentials()
        if hash_rounds(user.password) < settings.bcrypt_rounds:
            # Upgrade the hash to the configured cost; no session ends.
            if not get_state().store.swap_password(user, hash_password(password, settings.bcrypt_rounds)):
                raise BadCredentials()  # a concurrent password change won
    return user


def take_attempt(username: str, client: Client) -> None:
    """A login-counted check of a secret: TooManyAttempts (and ``login_failed``) when locked out."""
    try:
        throttle.take_attempt(username, client.ip or "")
    except TooManyAttempts:
        signals.send(signals.login_failed, username=username, reason="locked_out")
        raise


def open_session(user: User, client: Client, amr: tuple[str, ...] = PASSWORD_ONLY, acr: str = "aal1") -> TokenPair:
    """Open a session for ``user``, whose credentials were verified with ``amr``
    (RFC 8176) to assurance ``acr``; runs the app's policies, resets the login
    counters when a password was checked (a passkey alone took no slot, so it
    gives none back) and sends ``user_logged_in``."""
    state = get_state()
    now = utcnow()
    expires_at = now + timedelta(minutes=state.settings.refresh_token_expire_minutes)
    role_name = user.role_name
    with unavailable_on_error():
        session_id = new_session_id()
        refresh = state.tokens.issue(REFRESH, str(user.pk), session_id, epoch(expires_at), epoch(now))
        state.store.insert(
            user.to_mongo().to_dict(),
            role_name,
            refresh.jti,
            expires_at,
            client.ip,
            client.user_agent,
            now,
            amr=amr,
            acr=acr,
            session_id=session_id,
        )
        if "pwd" in amr:  # a password counted by the throttle (maybe in an earlier request: a second factor)
            throttle.reset(user.username, client.ip or "")
        for policy in state.policies:
            policy.opened(user.pk, now)
    pair = issue_pair(
        user.pk, session_id, expires_at, refresh.token, role_name, bool(user.change_password), now, amr, acr, user
    )
    signals.send(signals.user_logged_in, user=user, session_id=session_id)
    return pair


def login(username: str, password: str, roles: Optional[frozenset[str]], client: Client) -> TokenPair:
    """Check the password and open a session, whatever second factor the user
    has: for tools that sign in with the password alone. ``api_rest.login``
    goes through ``mfa.login``, which stops at the second factor."""
    return open_session(verify_credentials(username, password, roles, client), client)


def issue_pair(
    user_id: ObjectId,
    session_id: str,
    session_expires_at: datetime,
    refresh_token: str,
    role: Optional[str],
    change_password: bool,
    now: datetime,
    amr: tuple[str, ...] = PASSWORD_ONLY,
    acr: str = "aal1",
    user: Optional[User] = None,
) -> TokenPair:
    """A new access token for the session, beside ``refresh_token``; it
    carries how the session was authenticated (``amr``, ``acr``) and the
    claims of the app's ``additional_claims_loader`` for ``user``."""
    state = get_state()
    access_expiry = min(now + timedelta(minutes=state.settings.token_expire_minutes), session_expires_at)
    access = state.tokens.issue(
        ACCESS, str(user_id), session_id, epoch(access_expiry), epoch(now), amr=amr, acr=acr, user=user
    )
    return TokenPair(
        access.token, refresh_token, session_id, now, access_expiry, session_expires_at, role, change_password
    )


def refresh(refresh_token: str) -> TokenPair:
    """Spend ``refresh_token`` for a new pair of the same session, for a
    user still active (Unauthorized otherwise, the token unspent).

    A refresh token that was already spent ends the whole session (theft).
    """
    state = get_state()
    claims = state.tokens.decode(refresh_token, REFRESH)
    user_id, session_id = subject_id(claims), claims["sid"]
    now = utcnow()
    expires_at = datetime.fromtimestamp(claims["exp"], timezone.utc).replace(tzinfo=None)
    new_refresh = state.tokens.issue(REFRESH, str(user_id), session_id, claims["exp"], epoch(now))
    with unavailable_on_error():
        cutoff = session_cutoff(state.policies, now)
        # The user as it is now: one disabled or deleted however it was
        # written (a raw write, a queryset update) gets no new pair.
        user = User.find_active(user_id)
        if user is None:
            raise Unauthorized()
        session = state.store.rotate(session_id, user_id, claims["jti"], new_refresh.jti, now, cutoff)
        if session is None:
            _refuse_refresh(session_id, user_id, claims["jti"], now, cutoff)
        if not password_kept(session, user.password) and state.store.confirm_stale(user_id, session_id):
            raise Unauthorized()
    role, change_password = session.get("role"), bool(session.get("change_password"))
    amr, acr = tuple(session.get("amr") or PASSWORD_ONLY), session.get("acr") or "aal1"
    return issue_pair(user_id, session_id, expires_at, new_refresh.token, role, change_password, now, amr, acr, user)


def _refuse_refresh(
    session_id: str, user_id: ObjectId, jti: str, now: datetime, cutoff: Optional[datetime]
) -> NoReturn:
    """A refresh token that is not the current one (the family ends), or of an idle session."""
    store = get_state().store
    grace = get_state().settings.refresh_reuse_grace_seconds
    session = store.find(session_id, user_id)
    if session is not None and session["expires_at"] > now:
        last_used = session.get("last_used_at")
        if cutoff is not None and (last_used is None or last_used <= cutoff):
            store.end(user_id, "idle", [session_id])
        elif not _retried_within_grace(session, jti, now, grace):
            store.end(user_id, "refresh_reuse", [session_id])
    raise Unauthorized()


def _retried_within_grace(session: dict[str, object], jti: str, now: datetime, grace: int) -> bool:
    rotated_at = session.get("rotated_at")
    return (
        grace > 0
        and session.get("prev_refresh_jti") == jti
        and isinstance(rotated_at, datetime)
        and now - rotated_at <= timedelta(seconds=grace)
    )


def logout(user_id: ObjectId, session_id: str) -> None:
    """End the caller's own session."""
    with unavailable_on_error():
        if get_state().store.end(user_id, "logout", [session_id]):
            user = User.objects(pk=user_id).first()
            if user is not None:
                signals.send(signals.user_logged_out, user=user, session_id=session_id)


def logout_all(user_id: ObjectId) -> int:
    """End every session of the user, the caller's included; how many ended."""
    with unavailable_on_error():
        return len(get_state().store.end(user_id, "logout_all"))


def revoke_session(user_id: ObjectId, session_id: str) -> None:
    """End one of the user's own sessions; NotFound for any other id."""
    if not isinstance(session_id, str):
        raise NotFound()
    with unavailable_on_error():
        if not get_state().store.end(user_id, "revoked", [session_id]):
            raise NotFound()


def reauthenticate(
    user_id: ObjectId,
    session_id: str,
    password: str,
    client: Client,
    second_factor: Optional[Callable[[User], Optional[tuple[str, ...]]]] = None,
) -> None:
    """Check the password again (counted like a login) and mark the session
    freshly authenticated; BadCredentials when it is wrong. ``second_factor``
    then checks a second factor (``mfa.reauthentication_factor``): the
    ``amr`` it returns makes the session aal2 (None: the password alone)."""
    settings = get_state().settings
    with unavailable_on_error():
        user = User.find_active(user_id)
        if user is None:
            raise Unauthorized()
        take_attempt(user.username, client)
        if not check_password(password, user.password, settings.bcrypt_rounds):
            signals.send(signals.login_failed, username=user.username, reason="bad_credentials")
            raise BadCredentials()
        amr = second_factor(user) if second_factor is not None else None
        throttle.reset(user.username, client.ip or "")
        acr = "aal2" if amr is not None else None
        if not get_state().store.mark_authenticated(session_id, user_id, utcnow(), amr, acr):
            raise Unauthorized()


def list_sessions(user_id: ObjectId) -> list[SessionInfo]:
    """The user's live sessions, newest first."""
    state = get_state()
    now = utcnow()
    with unavailable_on_error():
        found = state.store.list_live(user_id, now, session_cutoff(state.policies, now))
    return [
        SessionInfo(
            s["_id"],
            s.get("created_at"),
            s.get("last_used_at"),
            s.get("ip") or None,  # "" was stored before
            s.get("user_agent") or None,
            s.get("authenticated_at"),
        )
        for s in found
    ]

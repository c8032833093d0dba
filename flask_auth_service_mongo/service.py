"""The flows, whatever the transport: login, refresh, logout, accounts.

REST helpers (``api_rest``), GraphQL resolvers (``schema``) and CLI commands
(``cli``) are thin adapters around these functions: they parse, call this
module and render. Each function takes plain values and returns a plain
result or raises an ``AuthError`` (``PolicyError`` for a broken rule).

This is the only module that ends sessions: every way one ends goes through
``end_sessions``, including saves and deletes made through ``models``
(mongoengine signals, connected below).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn, Optional, Sequence

from bson import ObjectId
from mongoengine import signals as model_signals
from mongoengine.errors import NotUniqueError
from pymongo.errors import PyMongoError

from . import audit as audit
from . import cache, signals, throttle
from . import sessions as store
from .database import unavailable_on_error
from .errors import BadCredentials, Forbidden, NotFound, PolicyError, TooManyAttempts, Unauthorized
from .models import Role, User, canonical_username, normalize_username
from .passwords import check_password, generate_password, hash_password, hash_rounds, validate_new_password
from .state import get_state
from .tokens import ACCESS, REFRESH, subject_id

log = logging.getLogger("flask_auth_service_mongo")
DEFAULT_PAGE, MAX_PAGE = 100, 1000


@dataclass(frozen=True)
class Client:
    """Where a request comes from, as recorded in its session."""

    ip: Optional[str] = None
    user_agent: Optional[str] = None


@dataclass(frozen=True)
class TokenPair:
    """A new access token beside the refresh token of one session."""

    access_token: str
    refresh_token: str
    session_id: str
    issued_at: datetime
    access_expires_at: datetime
    session_expires_at: datetime
    role: Optional[str]
    change_password: bool

    def as_data(self) -> dict[str, Any]:
        """The ``data`` of a login or refresh answer (SPEC's HTTP table)."""
        return {
            "token": self.access_token,
            "access_token": self.access_token,
            "token_type": "Bearer",
            "refresh_token": self.refresh_token,
            "expires_in": round((self.access_expires_at - self.issued_at).total_seconds() / 60),
            "expires_at": _epoch(self.access_expires_at),
            "change_password": self.change_password,
            "role": self.role,
        }


@dataclass(frozen=True)
class SessionInfo:
    """A live session as its user may see it."""

    id: str
    created_at: Optional[datetime]
    last_used_at: Optional[datetime]
    ip: Optional[str]
    user_agent: Optional[str]
    authenticated_at: Optional[datetime]


@dataclass(frozen=True)
class Actor:
    """Who asks for an account operation; ``None`` in its place is the command line."""

    user_id: ObjectId
    role: Optional[str]


def _epoch(moment: datetime) -> int:
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


# -- sessions: opening, rotating, ending ------------------------------------


def login(username: str, password: str, roles: Optional[frozenset[str]], client: Client) -> TokenPair:
    """Check the credentials and open a session; BadCredentials for any refusal."""
    settings = get_state().settings
    username = canonical_username(username)
    ip = client.ip or ""
    with unavailable_on_error():
        _take_attempt(username, ip)
        user = User.find_by_username(username)
        matches = check_password(password, user.password if user else None, settings.bcrypt_rounds)
        role_name = user.role_name if user is not None else None
        if user is None or not matches or not user.active or (roles is not None and role_name not in roles):
            signals.send(signals.login_failed, username=username, reason="bad_credentials")
            raise BadCredentials()
        if hash_rounds(user.password) < settings.bcrypt_rounds:
            # Upgrade the hash to the configured cost; no session ends.
            if not user.swap_password(hash_password(password, settings.bcrypt_rounds)):
                raise BadCredentials()  # a concurrent password change won
        pair = _open_session(user, role_name, client)
        throttle.reset(username, ip)
        _end_sessions_beyond_limit(user.pk, pair.issued_at)
    signals.send(signals.user_logged_in, user=user, session_id=pair.session_id)
    return pair


def _take_attempt(username: str, ip: str) -> None:
    """A login-counted password check: TooManyAttempts (and ``login_failed``) when locked out."""
    try:
        throttle.take_attempt(username, ip)
    except TooManyAttempts:
        signals.send(signals.login_failed, username=username, reason="locked_out")
        raise


def _end_sessions_beyond_limit(user_id: ObjectId, now: datetime) -> None:
    """``AUTH_MAX_SESSIONS_PER_USER``: the least recently used sessions past it end."""
    limit = get_state().settings.max_sessions_per_user
    if limit:
        end_sessions(user_id, "session_limit", store.beyond_limit(user_id, now, limit))


def _open_session(user: User, role_name: Optional[str], client: Client) -> TokenPair:
    state = get_state()
    now = store.utcnow()
    session_id, user_stamp = store.new_session_id(), store.new_user_stamp()
    expires_at = now + timedelta(minutes=state.settings.refresh_token_expire_minutes)
    refresh = state.tokens.issue(REFRESH, str(user.pk), session_id, _epoch(expires_at), _epoch(now))
    store.insert(
        session_id=session_id,
        user_id=user.pk,
        role=role_name,
        change_password=user.change_password,
        refresh_jti=refresh.jti,
        expires_at=expires_at,
        ip=client.ip,
        user_agent=client.user_agent,
        now=now,
        user_stamp=user_stamp,
    )
    # A concurrent disable, password or role change may have read the
    # sessions before this one existed: look at the user again after.
    try:
        unchanged = user.unchanged_since_loaded(role_name)
    except PyMongoError:
        with contextlib.suppress(PyMongoError):
            store.end(session_id, user.pk)
        raise
    if not unchanged:
        store.end(session_id, user.pk)
        raise BadCredentials()
    cache.remember_user(user, user_stamp)  # checked unchanged after the insert
    return _pair(user.pk, session_id, expires_at, refresh.token, role_name, bool(user.change_password), now)


def _pair(
    user_id: ObjectId,
    session_id: str,
    session_expires_at: datetime,
    refresh_token: str,
    role: Optional[str],
    change_password: bool,
    now: datetime,
) -> TokenPair:
    """A new access token for the session, beside ``refresh_token``."""
    state = get_state()
    access_expiry = min(now + timedelta(minutes=state.settings.token_expire_minutes), session_expires_at)
    access = state.tokens.issue(ACCESS, str(user_id), session_id, _epoch(access_expiry), _epoch(now))
    return TokenPair(
        access.token, refresh_token, session_id, now, access_expiry, session_expires_at, role, change_password
    )


def refresh(refresh_token: str) -> TokenPair:
    """Spend ``refresh_token`` for a new pair of the same session.

    A refresh token that was already spent ends the whole session (theft).
    """
    state = get_state()
    claims = state.tokens.decode(refresh_token, REFRESH)
    user_id, session_id = subject_id(claims), claims["sid"]
    now = store.utcnow()
    expires_at = datetime.fromtimestamp(claims["exp"], timezone.utc).replace(tzinfo=None)
    new_refresh = state.tokens.issue(REFRESH, str(user_id), session_id, claims["exp"], _epoch(now))
    with unavailable_on_error():
        session = store.rotate(session_id, user_id, claims["jti"], new_refresh.jti, now, _idle_cutoff(now))
        if session is None:
            _refuse_refresh(session_id, user_id, claims["jti"], now)
    role, change_password = session.get("role"), bool(session.get("change_password"))
    return _pair(user_id, session_id, expires_at, new_refresh.token, role, change_password, now)


def _refuse_refresh(session_id: str, user_id: ObjectId, jti: str, now: datetime) -> NoReturn:
    """A refresh token that is not the current one (the family ends), or of an idle session."""
    grace = get_state().settings.refresh_reuse_grace_seconds
    session = store.find(session_id, user_id)
    if session is not None and session["expires_at"] > now:
        rotated_at = session.get("rotated_at")
        retried = (
            grace > 0
            and session.get("prev_refresh_jti") == jti
            and rotated_at is not None
            and now - rotated_at <= timedelta(seconds=grace)
        )
        if not end_if_idle(user_id, session_id, session.get("last_used_at"), now) and not retried:
            end_sessions(user_id, "refresh_reuse", [session_id])
    raise Unauthorized()


def _idle_cutoff(now: datetime) -> Optional[datetime]:
    """Sessions last used at or before this are idle (None: no idle timeout)."""
    idle = get_state().settings.session_idle_minutes
    return now - timedelta(minutes=idle) if idle else None


def end_if_idle(user_id: ObjectId, session_id: str, last_used_at: Optional[datetime], now: datetime) -> bool:
    """``AUTH_SESSION_IDLE_MINUTES``: end the session if it went unused that long."""
    cutoff = _idle_cutoff(now)
    if cutoff is None or (last_used_at is not None and last_used_at > cutoff):
        return False
    end_sessions(user_id, "idle", [session_id])
    return True


def logout(user_id: ObjectId, session_id: str) -> None:
    """End the caller's own session."""
    with unavailable_on_error():
        if end_sessions(user_id, "logout", [session_id]):
            user = User.objects(pk=user_id).first()
            if user is not None:
                signals.send(signals.user_logged_out, user=user, session_id=session_id)


def logout_all(user_id: ObjectId) -> int:
    """End every session of the user, the caller's included; how many ended."""
    with unavailable_on_error():
        return len(end_sessions(user_id, "logout_all"))


def revoke_session(user_id: ObjectId, session_id: str) -> None:
    """End one of the user's own sessions; NotFound for any other id."""
    if not isinstance(session_id, str):
        raise NotFound()
    with unavailable_on_error():
        if not end_sessions(user_id, "revoked", [session_id]):
            raise NotFound()


def reauthenticate(user_id: ObjectId, session_id: str, password: str, client: Client) -> None:
    """Check the password again (counted like a login) and mark the session
    freshly authenticated; BadCredentials when it is wrong."""
    settings = get_state().settings
    with unavailable_on_error():
        user = User.find_active(user_id)
        if user is None:
            raise Unauthorized()
        _take_attempt(user.username, client.ip or "")
        if not check_password(password, user.password, settings.bcrypt_rounds):
            signals.send(signals.login_failed, username=user.username, reason="bad_credentials")
            raise BadCredentials()
        throttle.reset(user.username, client.ip or "")
        if not store.mark_authenticated(session_id, user_id, store.utcnow()):
            raise Unauthorized()


def list_sessions(user_id: ObjectId) -> list[SessionInfo]:
    """The user's live sessions, newest first."""
    now = store.utcnow()
    with unavailable_on_error():
        found = store.list_live(user_id, now, _idle_cutoff(now))
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


def end_sessions(
    user_id: ObjectId, reason: str, session_ids: Optional[list[str]] = None, keep: Optional[str] = None
) -> list[str]:
    """End the user's sessions: those listed, else all but ``keep``; the ids ended.

    ``reason`` says why: ``logout`` (the caller's own, announced as
    ``user_logged_out`` by ``logout``) or a reason of ``sessions_ended``.
    """
    if session_ids is not None:
        ended = store.end_listed(user_id, session_ids) if session_ids else []
    else:
        ended = store.end_all(user_id, keep=keep)
    if session_ids is None or session_ids:
        # 0.1.8's tokens go too, so that a rollback cannot revive them.
        store.delete_legacy_tokens(user_id)
    if ended and reason != "logout":
        signals.send(signals.sessions_ended, user_id=user_id, session_ids=ended, reason=reason)
    return ended


def clear_sessions(forced: bool = False) -> int:
    """Remove the expired sessions (every session when ``forced``)."""
    with unavailable_on_error():
        return store.clear(store.utcnow(), forced=forced)


# -- passwords and accounts --------------------------------------------------


def change_password(user_id: ObjectId, session_id: str, current: str, new: str, confirmed: str, client: Client) -> None:
    """The user's own change: the caller's session stays, every other ends.

    PolicyError codes: ``passwords_do_not_match``, ``password_too_short``...,
    ``current_password_mismatch``, ``same_password``.
    """
    settings = get_state().settings
    if new != confirmed:
        raise PolicyError("passwords_do_not_match", "the new password and its confirmation differ")
    validate_new_password(new, settings.password_min_length)
    account, ip = str(user_id), client.ip or ""
    with unavailable_on_error():
        # Guesses of the current password with a stolen token are throttled
        # like logins, per account.
        throttle.take_attempt(account, ip, purpose="update_password")
        user = User.find_active(user_id)
        if user is None:
            raise Unauthorized()
        if not check_password(current, user.password, settings.bcrypt_rounds):
            log.warning("current password mismatch for user %s from %s", user_id, client.ip)
            raise PolicyError("current_password_mismatch", "the current password is wrong")
        throttle.reset(account, ip, purpose="update_password")
        if new == current:
            raise PolicyError("same_password", "the new password is the current one")
        end_sessions(user_id, "password_changed", keep=session_id)
        if not user.swap_password(hash_password(new, settings.bcrypt_rounds), change_password=False):
            raise PolicyError("current_password_mismatch", "the password changed meanwhile")
        end_sessions(user_id, "password_changed", keep=session_id)  # and none opened meanwhile
        store.update_user_state(user_id, {"change_password": False})
    signals.send(signals.password_changed, user=user)


def admin_rank(admin_roles: Sequence[str], role: Optional[str]) -> int:
    """How high ``role`` ranks: ``admin_roles`` list the admin roles highest
    first; every other role (or none) ranks 0, the lowest."""
    return len(admin_roles) - admin_roles.index(role) if role in admin_roles else 0


def check_admin_rank(
    admin_roles: Sequence[str],
    caller_role: Optional[str],
    target_role: Optional[str] = None,
    new_role: Optional[str] = None,
    is_self: bool = False,
) -> None:
    """Forbidden unless an admin of ``caller_role`` may act on a user of
    ``target_role`` (None when creating one) and give it ``new_role`` (None:
    no role given).

    The caller must rank strictly above the user and above the role it
    gives; it never acts on itself (its own role, its own deactivation).
    """
    own = admin_rank(admin_roles, caller_role)
    if (
        own == 0
        or is_self
        or admin_rank(admin_roles, target_role) >= own
        or (new_role is not None and admin_rank(admin_roles, new_role) >= own)
    ):
        raise Forbidden()


def _authorize_admin(actor: Optional[Actor]) -> None:
    """Account operations are for the admin roles (and the command line)."""
    if actor is not None and actor.role not in get_state().settings.admin_roles:
        raise Forbidden()


def _authorize_rank(actor: Optional[Actor], target: Optional[User], new_role: Optional[str] = None) -> None:
    """An admin acts only below its own rank (the command line anywhere)."""
    if actor is not None:
        check_admin_rank(
            get_state().settings.admin_roles,
            actor.role,
            target.role_name if target is not None else None,
            new_role,
            is_self=target is not None and target.pk == actor.user_id,
        )


def find_role(name: str) -> Role:
    role: Optional[Role] = Role.objects(name=name).first()
    if role is None:
        raise PolicyError("role_not_found", f"role {name!r} does not exist")
    return role


def _find_user(user_id: ObjectId) -> User:
    user: Optional[User] = User.objects(pk=user_id).first()
    if user is None:
        raise NotFound()
    return user


def create_user(
    actor: Optional[Actor], username: str, password: str, role_name: str, change_password: bool = False
) -> User:
    """A new account, after the username and password policies."""
    _authorize_admin(actor)
    _authorize_rank(actor, None, role_name)
    settings = get_state().settings
    username = normalize_username(username, settings.username_min_length)
    validate_new_password(password, settings.password_min_length)
    with unavailable_on_error():
        user = User(
            username=username,
            password=hash_password(password, settings.bcrypt_rounds),
            role=find_role(role_name),
            change_password=change_password,
        )
        try:
            return user.save()
        except NotUniqueError:
            raise PolicyError("username_taken", f"user {username!r} already exists") from None


def update_user(
    actor: Optional[Actor],
    user_id: ObjectId,
    role: Optional[str] = None,
    active: Optional[bool] = None,
    change_password: Optional[bool] = None,
) -> User:
    """Change an account's role, state or flag; deactivation ends its sessions."""
    _authorize_admin(actor)
    with unavailable_on_error():
        user = _find_user(user_id)
        _authorize_rank(actor, user, role)
        if role is not None:
            user.role = find_role(role)
        if change_password is not None:
            user.change_password = change_password
        if active is not None:
            user.active = active
        return user.save()


def delete_user(actor: Optional[Actor], user_id: ObjectId) -> None:
    """Delete an account and every session of it."""
    _authorize_admin(actor)
    with unavailable_on_error():
        user = _find_user(user_id)
        _authorize_rank(actor, user)
        user.delete()


def reset_password(actor: Optional[Actor], user_id: ObjectId) -> str:
    """Give an account a generated password it must change; its sessions end."""
    _authorize_admin(actor)
    settings = get_state().settings
    password = generate_password(settings.reset_password_length)
    with unavailable_on_error():
        user = _find_user(user_id)
        _authorize_rank(actor, user)
        user.password, user.change_password = hash_password(password, settings.bcrypt_rounds), True
        user.save()
    signals.send(signals.password_changed, user=user)
    return password


def list_users(actor: Optional[Actor], limit: Optional[int], offset: Optional[int]) -> list[User]:
    """A page of accounts by username (at most ``MAX_PAGE``)."""
    _authorize_admin(actor)
    # Out of range or null: the default (a limit of 0 would mean no limit).
    limit = limit if isinstance(limit, int) and 1 <= limit <= MAX_PAGE else DEFAULT_PAGE
    offset = offset if isinstance(offset, int) and offset >= 0 else 0
    with unavailable_on_error():
        return list(User.objects.order_by("username").skip(offset).limit(limit))


def list_roles(actor: Optional[Actor]) -> list[Role]:
    """Every role by name."""
    _authorize_admin(actor)
    with unavailable_on_error():
        return list(Role.objects.order_by("name"))


def logout_user(user_id: ObjectId) -> int:
    """End every session of a user (admin use); how many ended."""
    with unavailable_on_error():
        return len(end_sessions(user_id, "logout_all"))


# -- changes made through the models ----------------------------------------


def _user_ending_reason(user: User) -> Optional[str]:
    """Why saving ``user`` ends its sessions, or None when it does not."""
    if not user.active:
        return "deactivated"
    if "password" in user._get_changed_fields():
        return "password_reset"
    return None


def _user_saving(sender: type, document: User, created: bool = False, **kwargs: Any) -> None:
    # Before the write too: one that fails half-way leaves no session.
    reason = None if created else _user_ending_reason(document)
    if reason:
        end_sessions(document.pk, reason)


def _user_saved(sender: type, document: User, created: bool = False, **kwargs: Any) -> None:
    if created:
        return
    reason = _user_ending_reason(document)
    if reason:
        end_sessions(document.pk, reason)  # and none opened by a login racing it
    else:
        store.update_user_state(document.pk, {"role": document.role_name, "change_password": document.change_password})


def _user_deleting(sender: type, document: User, **kwargs: Any) -> None:
    end_sessions(document.pk, "deleted")


def _role_saved(
    sender: type, document: Role, created: bool = False, previous_name: Optional[str] = None, **kwargs: Any
) -> None:
    if not created:  # renamed or not: users loaded with the role hold it as it was
        store.update_role_state(previous_name or document.name, document.name)


def _role_deleted(sender: type, document: Role, **kwargs: Any) -> None:
    store.update_role_state(document.name, None)


model_signals.pre_save_post_validation.connect(_user_saving, sender=User)
model_signals.post_save.connect(_user_saved, sender=User)
model_signals.pre_delete.connect(_user_deleting, sender=User)
model_signals.post_delete.connect(_user_deleting, sender=User)
model_signals.post_save.connect(_role_saved, sender=Role)
model_signals.post_delete.connect(_role_deleted, sender=Role)

"""Account administration: passwords, users and roles, whatever the transport.

GraphQL resolvers (``schema``) and CLI commands (``cli``) are thin adapters
around these functions. Each takes plain values and returns a plain result
or raises an ``AuthError`` (``PolicyError`` for a broken rule); sessions end
only through the store (``store.end``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional, Sequence

from bson import ObjectId
from mongoengine.errors import NotUniqueError

from . import emails, events, signals, throttle
from .clock import utcnow
from .database import RawDocument, unavailable_on_error
from .errors import Forbidden, NotFound, PolicyError, Unauthorized
from .models import Role, User, normalize_username
from .passwords import check_password, generate_password, hash_password, validate_new_password
from .records import Actor, Client
from .state import get_state

log = logging.getLogger("flask_auth_service_mongo")
DEFAULT_PAGE, MAX_PAGE = 100, 1000


def change_password(user_id: ObjectId, session_id: str, current: str, new: str, confirmed: str, client: Client) -> None:
    """The user's own change: the caller's session stays, every other ends.

    PolicyError codes: ``passwords_do_not_match``, ``password_too_short``...,
    ``current_password_mismatch``, ``same_password``.
    """
    settings, store = get_state().settings, get_state().store
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
        store.end(user_id, "password_changed", keep=session_id)
        if not store.swap_password(user, hash_password(new, settings.bcrypt_rounds), change_password=False):
            raise PolicyError("current_password_mismatch", "the password changed meanwhile")
        store.end(user_id, "password_changed", keep=session_id)  # and none opened meanwhile
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
    actor: Optional[Actor],
    username: str,
    password: str,
    role_name: str,
    change_password: bool = False,
    email: Optional[str] = None,
) -> User:
    """A new account, after the username, password and address policies."""
    _authorize_admin(actor)
    _authorize_rank(actor, None, role_name)
    settings = get_state().settings
    username = normalize_username(username, settings.username_min_length)
    validate_new_password(password, settings.password_min_length)
    address = emails.normalize_email(email) if email is not None else None
    with unavailable_on_error():
        if address is not None and emails.user_with_address(address) is not None:
            raise PolicyError("email_taken", "another account has this e-mail address")
        user = User(
            username=username,
            password=hash_password(password, settings.bcrypt_rounds),
            role=find_role(role_name),
            change_password=change_password,
        )
        try:
            user.save()
        except NotUniqueError:
            raise PolicyError("username_taken", f"user {username!r} already exists") from None
        if address is not None:
            try:
                emails.set_address(user.pk, address)
            except PolicyError:
                user.delete()  # taken meanwhile: no half-made account
                raise
        return user


def update_user(
    actor: Optional[Actor],
    user_id: ObjectId,
    role: Optional[str] = None,
    active: Optional[bool] = None,
    change_password: Optional[bool] = None,
    email: Optional[str] = None,
) -> User:
    """Change an account's role, state, flag or address (``""`` removes it;
    reset links mailed to the old one stop working); deactivation ends its sessions."""
    _authorize_admin(actor)
    address = emails.normalize_email(email) if email else None
    with unavailable_on_error():
        user = _find_user(user_id)
        _authorize_rank(actor, user, role)
        if email is not None:
            emails.set_address(user.pk, address)
            emails.void_all(user.pk, emails.RESET)
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


def own_events(user_id: ObjectId, paging: events.Page) -> list[RawDocument]:
    """The user's own security events (``auth_event`` documents), newest first."""
    with unavailable_on_error():
        return events.find(events.query_for(user_id=user_id), paging)


def list_events(
    actor: Optional[Actor],
    username: Optional[str] = None,
    kind: Optional[str] = None,
    since: Optional[datetime] = None,
    limit: Optional[int] = None,
    offset: Optional[int] = None,
) -> list[RawDocument]:
    """Anyone's security events (or ``username``'s), newest first: for the
    admin roles and the command line. Out-of-range paging is the default."""
    _authorize_admin(actor)
    limit = limit if isinstance(limit, int) and 1 <= limit <= events.MAX_PAGE else events.DEFAULT_PAGE
    offset = offset if isinstance(offset, int) and offset >= 0 else 0
    with unavailable_on_error():
        user_id = None
        if username is not None:
            user = User.find_by_username(username)
            if user is None:
                raise PolicyError("user_not_found", f"user {username!r} does not exist")
            user_id = user.pk
        return events.find(events.query_for(user_id, kind, since), events.Page(limit, offset))


def list_roles(actor: Optional[Actor]) -> list[Role]:
    """Every role by name."""
    _authorize_admin(actor)
    with unavailable_on_error():
        return list(Role.objects.order_by("name"))


def clear_sessions(forced: bool = False) -> int:
    """Remove the expired sessions; ``forced``: end every session of every
    user (reason ``cleared``), through the store's one end path."""
    store = get_state().store
    now = utcnow()
    with unavailable_on_error():
        if not forced:
            return store.clear_expired(now)
        return sum(len(store.end(user_id, "cleared")) for user_id in store.expired_users(now, forced=True))

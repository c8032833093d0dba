"""Account recovery by e-mail: reset links, the reset itself, and address changes.

``request_reset`` and ``request_email_change`` only check and count the
request; finding the account, storing the link's token and mailing it
happen in the mail worker, so an answer takes the same time whether or not
the account exists and whatever the SMTP server does. A link whose mail
could not be sent is voided at once: no token stays usable that nobody got.

Each function takes plain values and returns nothing or raises an
``AuthError`` (``PolicyError`` for a broken password or address rule), like
``service``. With ``AUTH_RESET_URL`` unset the reset functions raise
NotFound (recovery off); with ``AUTH_EMAIL_CONFIRM_URL`` unset, the address
change ones do.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import Optional

from bson import ObjectId
from flask import Flask, current_app
from pymongo.errors import PyMongoError

from . import emails, factors, mfa, signals, throttle
from .clock import utcnow
from .database import unavailable_on_error
from .errors import InvalidLinkToken, NotFound, PolicyError, Refused, Unauthorized
from .mail import Mailer
from .models import User, canonical_username
from .passwords import hash_password, validate_new_password
from .records import Client
from .state import get_state

log = logging.getLogger("flask_auth_service_mongo")


def _mailer(url: Optional[str]) -> Mailer:
    """The app's mailer when the link page ``url`` is configured, else NotFound."""
    mailer = get_state().mailer
    if url is None or mailer is None:
        raise NotFound()
    return mailer


def _lifetime() -> timedelta:
    return timedelta(minutes=get_state().settings.reset_token_minutes)


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # a proxy, typed as Flask
    return app


# -- password reset ------------------------------------------------------------


def request_reset(email: Optional[str], username: Optional[str], client: Client) -> None:
    """Mail a reset link to the account of ``email`` (or ``username``) if it
    exists, is active and has an address; the same answer otherwise.

    Counted per client IP and per address or username, like logins
    (TooManyAttempts, whether or not the account exists).
    """
    mailer = _mailer(get_state().settings.reset_url)
    if email is not None:
        email = emails.normalize_email(email)
        key = "email:" + email
    else:
        key = "username:" + canonical_username(username or "")
    with unavailable_on_error():
        throttle.take_attempt(key, client.ip or "", purpose="forgot_password")
    mailer.outbox.submit(_app(), functools.partial(_mail_reset_link, mailer, email, username))


def _mail_reset_link(mailer: Mailer, email: Optional[str], username: Optional[str]) -> None:
    """In the mail worker: the link to the account's address, if there is one."""
    settings = get_state().settings
    try:
        if email is not None:
            user_id = emails.user_with_address(email)
            user = User.find_active(user_id) if user_id is not None else None
        else:
            user = User.find_by_username(username or "")
            user = user if user is not None and user.active is not False else None
            email = emails.address_of(user.pk) if user is not None else None
        if user is None or email is None:
            return
        token, link = emails.issue(user.pk, emails.RESET, email, utcnow(), _lifetime())
    except PyMongoError as error:
        log.error("could not prepare a password reset link: %s", type(error).__name__)
        return
    url = (settings.reset_url or "").replace("{token}", token)
    context = {"link": url, "username": user.username, "minutes": settings.reset_token_minutes}
    _deliver(mailer, link, email, "reset_password", context)


def _deliver(mailer: Mailer, link: Optional[emails.Link], to: str, template: str, context: dict[str, object]) -> bool:
    """Send one message now; when that fails, log why (never the link) and
    void ``link``, which nobody received."""
    try:
        mailer.send(to, mailer.render(template, **context))
    except Exception as error:  # noqa: BLE001 - SMTP or the app's sender: any failure is logged, not raised
        user_id = link.user_id if link is not None else "?"
        log.error("could not mail %s to user %s: %s", template, user_id, type(error).__name__)
        if link is not None:
            try:
                emails.void(link)
            except PyMongoError as db_error:
                log.error("could not void the unsent %s link: %s", template, type(db_error).__name__)
        return False
    return True


def check_second_factor(user: User, code: Optional[str], client: Client) -> None:
    """A reset never bypasses a second factor: a user who has one must pass
    it with ``code`` (a TOTP code, or a recovery code), counted per account
    like the codes of a signed-in user. ``400 mfa_required`` without one (a
    user whose only factor is a passkey signs in with it instead)."""
    found = mfa.methods(user.pk)
    if not found:
        return
    if code is None or factors.TOTP not in found:
        raise Refused("mfa_required")
    method = mfa.METHODS[factors.TOTP if code.isdigit() else factors.RECOVERY_CODE]
    mfa.check_guarded_code(user, method, code, client)


def reset_password(token: str, new: str, confirmed: str, code: Optional[str], client: Client) -> User:
    """Spend the reset ``token`` and set the new password: every session of
    the user ends (reason ``password_reset``) and ``password_changed`` is sent.

    InvalidLinkToken for a spent, expired, unknown or other-purpose token;
    PolicyError when the new password breaks the policy (the token stays).
    """
    _mailer(get_state().settings.reset_url)
    settings = get_state().settings
    if new != confirmed:
        raise PolicyError("passwords_do_not_match", "the new password and its confirmation differ")
    validate_new_password(new, settings.password_min_length)
    with unavailable_on_error():
        link = emails.find(token, emails.RESET, utcnow())
        user = User.find_active(link.user_id) if link is not None else None
        if user is None:
            raise InvalidLinkToken()
        check_second_factor(user, code, client)
        new_hash = hash_password(new, settings.bcrypt_rounds)
        if emails.spend(token, emails.RESET, utcnow()) is None:
            raise InvalidLinkToken()  # a concurrent use won
        # Saving the new hash ends every session of the user (reason
        # password_reset) through the models' one end path.
        user.password, user.change_password = new_hash, False
        user.save()
        emails.void_all(user.pk, emails.CONFIRM_EMAIL)  # a pending address change dies too
    log.info("password reset by e-mail link for user %s (from %s)", user.pk, client.ip)
    signals.send(signals.password_changed, user=user)
    return user


# -- changing the address --------------------------------------------------------


def request_email_change(user_id: ObjectId, new_email: str) -> None:
    """Mail a confirmation link to ``new_email`` and a notice to the current
    address; the address changes only when the link is opened."""
    mailer = _mailer(get_state().settings.email_confirm_url)
    email = emails.normalize_email(new_email)
    with unavailable_on_error():
        user = User.find_active(user_id)
        if user is None:
            raise Unauthorized()
        current = emails.address_of(user_id)
    if email == current:
        raise PolicyError("same_email", "this is already the account's address")
    mailer.outbox.submit(_app(), functools.partial(_mail_confirmation, mailer, user_id, email))


def _mail_confirmation(mailer: Mailer, user_id: ObjectId, email: str) -> None:
    """In the mail worker: the link to the new address, the notice to the old."""
    settings = get_state().settings
    try:
        user = User.find_active(user_id)
        if user is None:
            return
        current = emails.address_of(user_id)
        owner = emails.user_with_address(email)
        issued = (
            None if owner is not None else emails.issue(user_id, emails.CONFIRM_EMAIL, email, utcnow(), _lifetime())
        )
    except PyMongoError as error:
        log.error("could not prepare an address confirmation link: %s", type(error).__name__)
        return
    context: dict[str, object] = {"username": user.username, "email": email, "minutes": settings.reset_token_minutes}
    if current is not None:
        _deliver(mailer, None, current, "email_change_requested", context)
    if issued is None:
        log.info("address change of user %s: the new address belongs to another account", user_id)
        return
    token, link = issued
    url = (settings.email_confirm_url or "").replace("{token}", token)
    _deliver(mailer, link, email, "confirm_email", {**context, "link": url})


def confirm_email(token: str) -> str:
    """Spend the confirmation ``token``: its address becomes the account's, and
    reset links mailed to the old one stop working. InvalidLinkToken for a
    bad token; PolicyError ``email_taken`` when another account took it meanwhile."""
    _mailer(get_state().settings.email_confirm_url)
    with unavailable_on_error():
        link = emails.spend(token, emails.CONFIRM_EMAIL, utcnow())
        if link is None or User.find_active(link.user_id) is None:
            raise InvalidLinkToken()
        emails.set_address(link.user_id, link.email)
        emails.void_all(link.user_id, emails.RESET)
    log.info("e-mail address of user %s changed", link.user_id)
    return link.email


def wait_for_mail(app: Optional[Flask] = None) -> None:
    """Block until the mail worker of ``app`` (default: the current app) ran
    every job submitted so far; for tests and a graceful shutdown."""
    mailer = get_state(app).mailer
    if mailer is not None:
        mailer.outbox.wait()

"""The second-factor flows: enrolment, removal, recovery codes and the
second step of a login, whatever the transport (REST, GraphQL, CLI).

A login of a user with a second factor stops after the password
(``start_login``: a single-use ``mfa_token``) and opens its session only in
``finish_login``, with ``amr`` ``["pwd", "otp"]`` and ``acr`` ``"aal2"``.
Methods are verifiers registered by name: ``totp`` and ``recovery_code``
here; another module adds ``passkey`` with ``register_method``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import pyotp
import segno
from bson import ObjectId
from flask import current_app

from . import metrics, signals, signin, throttle
from .clock import utcnow
from .database import current_database, unavailable_on_error
from .errors import BadCode, BadRequest, MfaNotEnrolled, Unauthorized
from .factors import RECOVERY_CODE, TOTP, FactorStore
from .models import User
from .records import Client, TokenPair
from .state import get_state
from .store import password_stamp

AAL1, AAL2 = "aal1", "aal2"
PASSWORD_AMR = signin.PASSWORD_ONLY
#: The guarded checks of a code (enrolment, removal) are throttled per account.
CODE_PURPOSE = "mfa"


def store() -> FactorStore:
    """The factor store of the current app: its database, its encryption keys
    (``AUTH_FACTOR_KEY``, else the secrets derived from the signing material:
    the app's secret, or the private key when it has none)."""
    settings = get_state().settings
    materials = [key.encode("utf-8", "surrogateescape") for key in settings.factor_key]
    return FactorStore(current_database(), materials or list(settings.keys.derived_keys))


# -- methods: how a second factor is checked ------------------------------------


@dataclass(frozen=True)
class Method:
    """A way to prove the second factor.

    ``verify(user, value, client)`` returns True when ``value`` (the body's
    field) proves it, consuming it when it is single use; ``available(user_id)``
    says whether the user has it; ``amr`` is what the session records
    beside ``pwd`` (RFC 8176).
    """

    name: str
    field: str
    amr: tuple[str, ...]
    verify: Callable[[User, Any, Client], bool]
    available: Callable[[ObjectId], bool]
    value_type: type = str  # the JSON type of the body field (a passkey assertion: dict)


def _verify_totp(user: User, value: Any, client: Client) -> bool:
    return isinstance(value, str) and store().use_totp(user.pk, value, utcnow())


def _verify_recovery_code(user: User, value: Any, client: Client) -> bool:
    remaining = store().use_recovery_code(user.pk, value) if isinstance(value, str) else None
    if remaining is None:
        return False
    signals.send(signals.recovery_code_used, user=user, remaining=remaining)
    return True


def _has_totp(user_id: ObjectId) -> bool:
    return TOTP in store().methods(user_id)


METHODS: dict[str, Method] = {
    TOTP: Method(TOTP, "code", ("otp",), _verify_totp, _has_totp),
    RECOVERY_CODE: Method(RECOVERY_CODE, "recovery_code", ("otp",), _verify_recovery_code, _has_totp),
}


def register_method(method: Method) -> None:
    """Add a second factor (e.g. ``passkey``, body field ``"passkey"``, amr ``("hwk",)``)."""
    METHODS[method.name] = method


def method_of_field(field: str) -> Optional[Method]:
    """The method whose body field is ``field``."""
    return next((m for m in METHODS.values() if m.field == field), None)


def methods(user_id: ObjectId) -> list[str]:
    """The second factors the user has (empty: password alone)."""
    known: dict[Callable[[ObjectId], bool], bool] = {}  # one read for methods that share a check
    with unavailable_on_error():
        for method in METHODS.values():
            if method.available not in known:
                known[method.available] = method.available(user_id)
    return [name for name, method in METHODS.items() if known[method.available]]


def check_second_factor(user: User, method: Method, value: Any, client: Client) -> None:
    """BadCode (and ``mfa_failed``) unless ``value`` proves ``method`` for ``user``."""
    with unavailable_on_error():
        if method.verify(user, value, client):
            return
    signals.send(signals.mfa_failed, user=user, method=method.name, reason="bad_code")
    raise BadCode()


def check_guarded_code(user: User, method: Method, value: Any, client: Client) -> None:
    """A code asked of a signed-in user (removal, a fresh check): counted
    per account like guesses of the current password."""
    account, ip = str(user.pk), client.ip or ""
    with unavailable_on_error():
        throttle.take_attempt(account, ip, purpose=CODE_PURPOSE)
    check_second_factor(user, method, value, client)
    with unavailable_on_error():
        throttle.reset(account, ip, purpose=CODE_PURPOSE)


# -- enrolment ------------------------------------------------------------------


@dataclass(frozen=True)
class TotpEnrolment:
    """What an authenticator app needs: the secret, its URI and a QR code."""

    secret: str
    otpauth_uri: str
    qr_svg: str

    def as_data(self) -> dict[str, str]:
        return {"secret": self.secret, "otpauth_uri": self.otpauth_uri, "qr_svg": self.qr_svg}


def issuer() -> str:
    return get_state().settings.mfa_issuer or current_app.name


def qr_svg(text: str) -> str:
    """``text`` as a QR code in an SVG document (no network, no image library)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", xmldecl=False, scale=4, title="QR code")
    return out.getvalue().decode("utf-8")


def begin_totp(user: User) -> TotpEnrolment:
    """A new TOTP secret for ``user``, to confirm with a first code
    (MfaAlreadyEnrolled when the user has TOTP already)."""
    with unavailable_on_error():
        secret = store().begin_totp(user.pk, utcnow())
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=issuer())
    return TotpEnrolment(secret, uri, qr_svg(uri))


def confirm_totp(user: User, session_id: str, code: Any, client: Client) -> list[str]:
    """Enrol the pending secret with its first code: the ten recovery codes,
    shown this once. The user's other sessions end; this one is now aal2
    (the password within ``ENROLMENT_FRESH`` and the code just now)."""
    account, ip = str(user.pk), client.ip or ""
    with unavailable_on_error():
        throttle.take_attempt(account, ip, purpose=CODE_PURPOSE)
        factors, now = store(), utcnow()
        if not isinstance(code, str) or not factors.confirm_totp(user.pk, code, now):
            signals.send(signals.mfa_failed, user=user, method=TOTP, reason="bad_code")
            raise BadCode()
        throttle.reset(account, ip, purpose=CODE_PURPOSE)
        codes = factors.new_recovery_codes(user.pk, now)
        _factors_changed(user.pk, session_id, "mfa_enrolled", (*PASSWORD_AMR, *METHODS[TOTP].amr), AAL2)
    signals.send(signals.mfa_enrolled, user=user, method=TOTP)
    return codes


def disable(user: User, session_id: str, method: Method, value: Any, client: Client) -> None:
    """Remove the user's second factors after one last code; the other
    sessions end and this one is aal1 again."""
    check_guarded_code(user, method, value, client)
    with unavailable_on_error():
        removed = store().remove(user.pk)
        _factors_changed(user.pk, session_id, "mfa_removed", PASSWORD_AMR, AAL1)
    for name in removed:
        if name != RECOVERY_CODE:
            signals.send(signals.mfa_removed, user=user, method=name)


def regenerate_recovery_codes(user: User) -> list[str]:
    """A new set of ten recovery codes; the old set is void."""
    with unavailable_on_error():
        factors = store()
        if TOTP not in factors.methods(user.pk):
            raise MfaNotEnrolled()
        return factors.new_recovery_codes(user.pk, utcnow())


def reset(user: User) -> list[str]:
    """An operator removes every factor of ``user`` (lost device): every
    session ends. The methods removed."""
    with unavailable_on_error():
        removed = store().remove(user.pk)
        _end_sessions(user.pk, "mfa_removed")
    for name in removed:
        if name != RECOVERY_CODE:
            signals.send(signals.mfa_removed, user=user, method=name)
    return removed


def _end_sessions(user_id: ObjectId, reason: str, keep: Optional[str] = None) -> None:
    get_state().store.end(user_id, reason, keep=keep)


def _factors_changed(user_id: ObjectId, session_id: str, reason: str, amr: tuple[str, ...], acr: str) -> None:
    """End the user's other sessions; the caller's takes ``amr`` and ``acr``."""
    _end_sessions(user_id, reason, keep=session_id)
    get_state().store.set_assurance(session_id, user_id, utcnow(), amr, acr)


# -- the second step of a login ------------------------------------------------


@dataclass(frozen=True)
class MfaRequired:
    """A right password of a user with a second factor: no session yet."""

    mfa_token: str
    methods: tuple[str, ...]
    expires_at: datetime

    def as_data(self) -> dict[str, Any]:
        expires_at = int(self.expires_at.replace(tzinfo=timezone.utc).timestamp())
        return {"mfa_token": self.mfa_token, "methods": list(self.methods), "expires_at": expires_at}


def login(username: str, password: str, roles: Optional[frozenset[str]], client: Client) -> TokenPair | MfaRequired:
    """The first step of a login: the session of a password alone, or, for
    a user with a second factor, an ``mfa_token`` for ``finish_login`` (no
    session yet; the password's throttle slot is given back, each code
    takes one)."""
    user = signin.verify_credentials(username, password, roles, client)
    found = methods(user.pk)
    if not found:
        return signin.open_session(user, client)
    with unavailable_on_error():
        seconds = get_state().settings.mfa_token_seconds
        token, expires_at = store().open_challenge(user.pk, found, utcnow(), seconds, password_stamp(user.password))
        throttle.reset(user.username, client.ip or "")
    metrics.count_login(metrics.LOGIN_MFA_REQUIRED)
    return MfaRequired(token, tuple(found), expires_at)


def reauthentication_factor(
    field: Optional[str], value: Any, client: Client
) -> Callable[[User], Optional[tuple[str, ...]]]:
    """What ``signin.reauthenticate`` checks after the password: a user with
    a second factor must prove it too (``fresh=`` asks for the strongest
    factor the user has); the ``amr`` the session then records (None: the
    password alone)."""

    def check(user: User) -> Optional[tuple[str, ...]]:
        if field is None:
            if methods(user.pk):
                raise BadRequest({"code": "required: this user has a second factor (or give recovery_code)"})
            return None
        method = method_of_field(field)
        if method is None:
            raise BadRequest({field: "unknown field"})
        check_second_factor(user, method, value, client)
        return (*PASSWORD_AMR, *method.amr)

    return check


def challenged_user(mfa_token: Any, method: str) -> User:
    """The active user an ``mfa_token`` (not spent here) may prove ``method``
    for; Unauthorized for a dead token or another method."""
    with unavailable_on_error():
        challenge = store().find_challenge(mfa_token, utcnow())
        user = User.find_active(challenge.user_id) if challenge is not None and method in challenge.methods else None
    if user is None:
        raise Unauthorized()
    return user


def finish_login(mfa_token: str, field: str, value: Any, roles: Optional[frozenset[str]], client: Client) -> TokenPair:
    """The second step of a login: the session, ``amr`` ``["pwd", <method's>]``
    at ``aal2``, once ``value`` proves the method of the body ``field``.

    Unauthorized for a dead ``mfa_token`` (spent, expired, 5 wrong codes),
    for a user gone or disabled meanwhile, or whose role is not in ``roles``;
    BadCode for a wrong code, which also counts toward the account's lockout.
    """
    method = method_of_field(field)
    with unavailable_on_error():
        factors, now = store(), utcnow()
        challenge = factors.find_challenge(mfa_token, now)
        if challenge is None or method is None or method.name not in challenge.methods:
            raise Unauthorized()
        user = User.find_active(challenge.user_id)
        # The password checked at the first step is no longer the user's: dead.
        changed = user is not None and challenge.password_stamp not in (None, password_stamp(user.password))
        if user is None or changed or (roles is not None and user.role_name not in roles):
            factors.spend_challenge(challenge, now)
            raise Unauthorized()
        signin.take_attempt(user.username, client)
    try:
        check_second_factor(user, method, value, client)
    except BadCode:
        with unavailable_on_error():
            factors.fail_challenge(challenge)
        raise
    with unavailable_on_error():
        if not factors.spend_challenge(challenge, now):
            raise Unauthorized()  # a concurrent success spent it
    return signin.open_session(user, client, amr=(*PASSWORD_AMR, *method.amr), acr=AAL2)

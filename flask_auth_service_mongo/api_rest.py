"""REST helpers: each returns ``(body, status)`` for a view or a flask-restx Resource.

They parse the request, call the flows (``signin``) and render the result; a refusal is
the response of the app's handler for the ``AuthError``.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator, Union

from flask import Response as FlaskResponse
from flask import request

from . import accounts, events, metrics, mfa, personal_tokens, recovery, signin, transport
from . import passkeys as passkey_store
from .apidoc import AUTHORIZATIONS as AUTHORIZATIONS  # Swagger for flask-restx users
from .apidoc import Docs as Docs
from .apidoc import document as document
from .auth import (
    Identity,
    RoleSpec,
    account_caller,
    allowed_roles,
    answers_refusals,
    authenticate,
    authenticate_session,
    current_user,
    refusal_response,
    second_factor_caller,
)
from .bodies import read_json_body, read_json_fields, read_json_object, read_one_of
from .clock import iso
from .database import unavailable_on_error
from .errors import AuthError, BadCredentials, BadRequest, PolicyError, Refused, Unauthorized
from .models import User
from .records import TokenPair
from .state import get_state
from .tokens import REFRESH

#: ``(body, status)`` on success (a Response carrying the cookies when
#: cookies are enabled); a refusal is the error's own response.
Response = Union[tuple[dict[str, Any], int], FlaskResponse]


def not_cached(helper: Callable[..., Any]) -> Callable[..., Any]:
    """Every answer of ``helper``, tokens or a refusal, is ``no-store``."""

    @functools.wraps(helper)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        transport.forbid_caching()
        return helper(*args, **kwargs)

    return wrapper


def _pair_answer(pair: TokenPair) -> Response:
    body = transport.shape_body({"message": "ok", "data": pair.as_data()}, pair.session_id)
    return transport.answer(body, 200, pair)


@not_cached
@metrics.timed_login
@answers_refusals
def login(role: RoleSpec = None) -> Response:
    """Check the credentials of the JSON body and open a session; for a user
    with a second factor, answer ``mfa_required`` with the ``mfa_token`` of
    ``login_mfa()`` instead (no session yet)."""
    body = read_json_object(("username", "password"))
    found = mfa.login(body["username"], body["password"], allowed_roles(role), transport.request_client())
    if isinstance(found, mfa.MfaRequired):
        return {"message": "mfa_required", "data": found.as_data()}, 200
    return _pair_answer(found)


@not_cached
@metrics.timed_login
@answers_refusals
def login_mfa(role: RoleSpec = None) -> Response:
    """The second step of a login: body ``{"mfa_token", "code"}`` (or
    ``"recovery_code"``, or the field of another registered method such as
    ``"passkey"``) → the login answer, the session at ``acr`` ``"aal2"``.
    A wrong code is ``400 bad_code``; a dead ``mfa_token`` ``401 unauthorized``."""
    body, field = read_one_of(("mfa_token",), _factor_choices())
    assert field is not None  # exactly one
    client = transport.request_client()
    return _pair_answer(mfa.finish_login(body["mfa_token"], field, body[field], allowed_roles(role), client))


@not_cached
@answers_refusals
def refresh() -> Response:
    """Spend the refresh token of the body (else of the cookie) for a new pair
    of the same session.

    A refresh token that was already spent ends the whole session (theft).
    From the cookie, the CSRF rule applies and a refusal clears the cookies.
    """
    refresh_token, from_cookie = _read_refresh_token()
    try:
        if from_cookie:
            transport.require_csrf(get_state().tokens.decode(refresh_token, REFRESH)["sid"])
        pair = signin.refresh(refresh_token)
    except AuthError as error:
        if not (from_cookie and error.status == 401):
            raise
        # The cookie's refresh token is dead: so are the cookies.
        return transport.clear_cookies(refusal_response(error))
    return _pair_answer(pair)


def _read_refresh_token() -> tuple[str, bool]:
    """The body's ``refresh_token``, else the cookie's when the body is empty
    or ``{}``; and whether it came from the cookie."""
    cookie = transport.refresh_cookie()
    if cookie is not None:
        if not request.content_length and "Transfer-Encoding" not in request.headers:
            return cookie, True
        if read_json_body() == {}:
            return cookie, True
    limit = {"refresh_token": get_state().tokens.max_refresh_length}
    return read_json_object(("refresh_token",), limits=limit)["refresh_token"], False


@answers_refusals
def logout() -> Response:
    """End the session of the request's token."""
    identity = authenticate_session()
    signin.logout(identity.user_id, identity.session_id)
    clear = transport.cookie_session_ends(identity.user_id, identity.session_id)
    return transport.answer({"message": "ok"}, 200, clear=clear)


@answers_refusals
def logout_all() -> Response:
    """End every session of the current user, this one included."""
    identity = authenticate_session()
    ended = signin.logout_all(identity.user_id)
    clear = transport.cookie_session_ends(identity.user_id)
    return transport.answer({"message": "ok", "data": {"ended": ended}}, 200, clear=clear)


@answers_refusals
def sessions() -> Response:
    """The live sessions of the current user, newest first."""
    identity = authenticate_session()
    data: list[dict[str, Any]] = [
        {
            "id": s.id,
            "created_at": iso(s.created_at),
            "last_used_at": iso(s.last_used_at),
            "authenticated_at": iso(s.authenticated_at),
            "ip": s.ip,
            "user_agent": s.user_agent,
            "current": s.id == identity.session_id,
        }
        for s in signin.list_sessions(identity.user_id)
    ]
    return {"message": "ok", "data": data}, 200


@not_cached
@answers_refusals
def reauthenticate() -> Response:
    """Check the password of the body again: the session counts as freshly
    authenticated for ``auth.required(fresh=...)``. A user with a second
    factor also sends its ``code`` (or ``recovery_code``)."""
    identity = authenticate_session()
    body, field = read_one_of(("password",), _factor_choices(), optional=True)
    client = transport.request_client()
    check = mfa.reauthentication_factor(field, body.get(field) if field else None, client)
    signin.reauthenticate(identity.user_id, identity.session_id, body["password"], client, check)
    return {"message": "ok"}, 200


@answers_refusals
def revoke_session(session_id: str) -> Response:
    """End one of the current user's own sessions; 404 for any other id."""
    identity = authenticate_session()
    signin.revoke_session(identity.user_id, session_id)
    return transport.answer({"message": "ok"}, 200, clear=transport.cookie_session_ends(identity.user_id, session_id))


@answers_refusals
def security_events() -> Response:
    """The current user's own security events, newest first.

    Paged by the query string: ``limit`` (1 to 500, default 50) and
    ``offset``, or ``before`` (the ``id`` of the last event seen; the answer's
    ``next`` is the one to send for the page after).
    """
    identity = authenticate_session()
    args = request.args
    paging = events.page(args.get("limit"), args.get("offset"), args.get("before"))
    found = accounts.own_events(identity.user_id, paging)
    data = [events.public(event, identity.session_id) for event in found]
    following = data[-1]["id"] if len(data) == paging.limit else None
    return {"message": "ok", "data": data, "next": following}, 200


#: The fields of ``create_token``'s body.
TOKEN_FIELDS = ("name", "scopes", "expires_in_days")


def _token_data(token: personal_tokens.TokenInfo) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "scopes": list(token.scopes),
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
        "expires_at": iso(token.expires_at),
    }


# -- the second factor ---------------------------------------------------------


def _factor_choices() -> dict[str, type]:
    """The body fields of the second factors (``code``, ``recovery_code``...)."""
    return {method.field: method.value_type for method in mfa.METHODS.values()}


@answers_refusals
def mfa_methods() -> Response:
    """The second factors of the current user: ``{"methods": [...]}`` (empty: none)."""
    identity = authenticate()
    return {"message": "ok", "data": {"methods": mfa.methods(identity.user_id)}}, 200


@not_cached
@answers_refusals
def create_token() -> Response:
    """Create a personal access token of the current user from the body
    ``{"name", "scopes", "expires_in_days"}``: ``201`` with the token, shown
    this once. Needs a login session whose password was checked within the
    last 5 minutes (``fresh_login_required``); a token cannot create tokens."""
    identity = account_caller()
    body = read_json_fields(TOKEN_FIELDS)
    created = personal_tokens.create(
        identity.user_id, body.get("name"), body.get("scopes"), body.get("expires_in_days")
    )
    return {"message": "ok", "data": {**_token_data(created.info), "token": created.token}}, 201


@answers_refusals
def tokens() -> Response:
    """The current user's live personal access tokens, newest first (never the tokens themselves)."""
    identity = authenticate_session()
    return {"message": "ok", "data": [_token_data(t) for t in personal_tokens.listed(identity.user_id)]}, 200


@answers_refusals
def revoke_token(token_id: str) -> Response:
    """End one of the current user's own personal access tokens at once; 404 for any other id."""
    identity = authenticate_session()
    personal_tokens.revoke(identity.user_id, token_id)
    return {"message": "ok"}, 200


@contextlib.contextmanager
def _policy_refusals() -> Iterator[None]:
    """A broken rule (``PolicyError``) answers ``400 {"message": its code}``."""
    try:
        yield
    except PolicyError as error:
        raise Refused(error.code) from None


@answers_refusals
def forgot_password() -> Response:
    """Body ``{"email"}`` or ``{"username"}``: mail a reset link to the account
    if it exists and has an address. Always ``202 {"message":"ok"}`` (the mail
    leaves from a worker thread), ``429`` when throttled, ``404`` when
    recovery is off (no ``AUTH_RESET_URL``)."""
    body = read_json_object((), optional=("email", "username"))
    if len([value for value in body.values() if value is not None]) != 1:
        raise BadRequest({"body": "send either email or username"})
    with _policy_refusals():
        recovery.request_reset(body.get("email"), body.get("username"), transport.request_client())
    return {"message": "ok"}, 202


@not_cached
@answers_refusals
def totp_begin() -> Response:
    """Begin a TOTP enrolment: ``{"secret","otpauth_uri","qr_svg"}`` for the
    authenticator app; ``totp_confirm()`` with its first code completes it."""
    _, user = second_factor_caller()
    return {"message": "ok", "data": mfa.begin_totp(user).as_data()}, 200


@not_cached
@answers_refusals
def reset_password() -> Response:
    """Body ``{"token","new_password","password_confirmed"}`` (+ ``"code"`` for a
    user with a second factor): spend the mailed token, set the password and
    end every session of the user. ``400 invalid_token`` for a spent, expired
    or unknown token; the password policy's codes (``password_too_short``...)."""
    body = read_json_object(("token", "new_password", "password_confirmed"), optional=("code",))
    with _policy_refusals():
        recovery.reset_password(
            body["token"],
            body["new_password"],
            body["password_confirmed"],
            body.get("code"),
            transport.request_client(),
        )
    return {"message": "ok"}, 200


@answers_refusals
def change_email() -> Response:
    """Body ``{"email"}``, for a login session whose password was checked within
    the last 5 minutes (``fresh_login_required``; a personal access token is
    ``403 forbidden``). Mails a confirmation link to the new address and a notice to the
    current one: ``202 {"message":"ok"}``; the address changes when the link is
    opened (``confirm_email``). ``404`` without ``AUTH_EMAIL_CONFIRM_URL``."""
    identity = account_caller()
    body = read_json_object(("email",))
    with _policy_refusals():
        recovery.request_email_change(identity.user_id, body["email"])
    return {"message": "ok"}, 202


@answers_refusals
def confirm_email() -> Response:
    """Body ``{"token"}`` from the confirmation link: the account takes the new
    address, ``200 {"message":"ok","data":{"email"}}``; ``400 invalid_token``,
    ``400 email_taken``."""
    body = read_json_object(("token",))
    with _policy_refusals():
        email = recovery.confirm_email(body["token"])
    return {"message": "ok", "data": {"email": email}}, 200


@not_cached
@answers_refusals
def totp_confirm() -> Response:
    """Complete the enrolment with the body's ``{"code"}``: the ten recovery
    codes, shown this once. The user's other sessions end."""
    identity, user = second_factor_caller()
    body = read_json_object(("code",))
    codes = mfa.confirm_totp(user, identity.session_id, body["code"], transport.request_client())
    return {"message": "ok", "data": {"recovery_codes": codes}}, 200


@not_cached
@answers_refusals
def mfa_disable() -> Response:
    """Remove the second factor, proven by the body's ``{"code"}`` (or
    ``{"recovery_code"}``); the user's other sessions end."""
    identity, user = second_factor_caller()
    body, field = read_one_of((), _factor_choices())
    method = mfa.method_of_field(field or "")
    assert method is not None  # one of the choices
    mfa.disable(user, identity.session_id, method, body[field or ""], transport.request_client())
    return {"message": "ok"}, 200


@not_cached
@answers_refusals
def recovery_codes() -> Response:
    """A new set of ten recovery codes, shown this once; the old set is void."""
    _, user = second_factor_caller()
    return {"message": "ok", "data": {"recovery_codes": mfa.regenerate_recovery_codes(user)}}, 200


#: How long other services may cache the key set, in seconds.
JWKS_MAX_AGE = 300


def jwks() -> tuple[dict[str, Any], int, dict[str, str]]:
    """The JSON Web Key Set (RFC 7517) of the keys that verify access tokens:
    their public keys and ``kid`` values, from the key ring the verifier uses; empty
    with an HMAC algorithm. Other services verify signature and expiry only."""
    return get_state().settings.keys.jwks(), 200, {"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"}


# -- passkeys (WebAuthn) ----------------------------------------------------------


def _passkey_data(passkey: passkey_store.Passkey) -> dict[str, Any]:
    return {
        "id": passkey.id,
        "name": passkey.name,
        "created_at": iso(passkey.created_at),
        "last_used_at": iso(passkey.last_used_at),
    }


@not_cached
@answers_refusals
def passkey_register_begin() -> Response:
    """Options to create a passkey for the caller (a fresh login)."""
    identity = account_caller()
    with unavailable_on_error():
        options = passkey_store.registration_options(_user_of(identity))
    return {"message": "ok", "data": options}, 200


@answers_refusals
def passkey_register_finish() -> Response:
    """Body ``{"credential", "name"}``: the authenticator's answer; ``201`` with the passkey."""
    identity = account_caller()
    body = read_json_fields(("credential", "name"))
    with unavailable_on_error():
        passkey = passkey_store.register(_user_of(identity), body.get("credential"), body.get("name"))
    return {"message": "ok", "data": _passkey_data(passkey)}, 201


@not_cached
@answers_refusals
def passkey_login_begin() -> Response:
    """Options to sign in with any passkey of this site, without a username;
    with body ``{"mfa_token"}`` (a login's first step), options for that
    user's passkeys, the second factor of ``login_mfa``."""
    mfa_token = read_json_fields(("mfa_token",)).get("mfa_token") if request.content_length else None
    user = mfa.challenged_user(mfa_token, "passkey") if mfa_token is not None else None
    with unavailable_on_error():
        options = passkey_store.authentication_options(user)
    return {"message": "ok", "data": options}, 200


@not_cached
@answers_refusals
def passkey_login_finish(role: RoleSpec = None) -> Response:
    """Body ``{"credential"}``: a signed assertion; the login answer (``amr``
    ``["hwk", "user"]``, ``acr`` ``"aal2"``). ``role`` as for ``login``."""
    body = read_json_fields(("credential",))
    roles = allowed_roles(role)
    with unavailable_on_error():
        user = passkey_store.verify_assertion(body.get("credential"))
        if roles is not None and user.role_name not in roles:
            raise BadCredentials()
    return _pair_answer(signin.open_session(user, transport.request_client(), amr=("hwk", "user"), acr="aal2"))


@answers_refusals
def passkeys() -> Response:
    """The caller's passkeys, newest first."""
    identity = authenticate_session()
    with unavailable_on_error():
        found = passkey_store.list_passkeys(identity.user_id)
    return {"message": "ok", "data": [_passkey_data(p) for p in found]}, 200


@answers_refusals
def delete_passkey(passkey_id: str) -> Response:
    """Remove one of the caller's own passkeys (a fresh login); 404 for any other id."""
    identity = account_caller()
    with unavailable_on_error():
        passkey_store.delete(_user_of(identity), passkey_id)
    return {"message": "ok"}, 200


def _user_of(identity: Identity) -> User:
    user = current_user()
    if user is None or user.pk != identity.user_id:
        raise Unauthorized()
    return user


__all__ = [
    "AUTHORIZATIONS",
    "Docs",
    "change_email",
    "confirm_email",
    "create_token",
    "delete_passkey",
    "document",
    "forgot_password",
    "jwks",
    "login",
    "login_mfa",
    "logout",
    "logout_all",
    "passkey_login_begin",
    "passkey_login_finish",
    "passkey_register_begin",
    "passkey_register_finish",
    "passkeys",
    "mfa_disable",
    "mfa_methods",
    "reauthenticate",
    "recovery_codes",
    "refresh",
    "reset_password",
    "revoke_session",
    "security_events",
    "revoke_token",
    "sessions",
    "tokens",
    "totp_begin",
    "totp_confirm",
]

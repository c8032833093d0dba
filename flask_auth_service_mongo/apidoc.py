"""Swagger documentation for flask-restx: the Bearer security scheme, what a
guarded operation may answer, and models of the login and refresh bodies and
of the token answer.

Everything goes through flask-restx's own hooks (the ``__apidoc__`` of a
view, ``Api.model``, ``Api.doc``), so it merges with the app's own docs.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Union

from flask import has_app_context
from flask_restx import Api, Namespace, fields
from flask_restx.utils import merge

from .bodies import MAX_FIELD_LENGTH
from .records import CSRF_FIELD, TOKEN_ANSWER_FIELDS
from .state import get_state

#: A string field of a request body (``bodies.string_problem``'s limits).
text = functools.partial(fields.String, min_length=1, max_length=MAX_FIELD_LENGTH)


def _refresh_token_limit() -> Optional[int]:
    """The longest refresh token the app's keys can have signed."""
    return get_state().tokens.max_refresh_length if has_app_context() else None


#: The name of the security scheme guarded operations require.
SCHEME = "Bearer"
#: Pass as ``Api(authorizations=api_rest.AUTHORIZATIONS)``: Swagger UI then
#: shows "Authorize", where a user pastes ``Bearer <access token>``.
AUTHORIZATIONS = {
    SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Bearer followed by the access token of the login answer: Bearer eyJ...; or a personal "
        "access token, Bearer fasm_pat_..., on the operations that name a scope it holds",
    }
}
UNAUTHORIZED = (
    "No valid access token or no live session: unauthorized, invalid_token, signature_expired "
    "or password_change_required"
)
STALE = ", or fresh_login_required (log in again or reauthenticate)"
FORBIDDEN = "The user's role may not call this operation: forbidden"
SCOPE = "The personal access token (or the session's role) holds none of the scopes: insufficient_scope; scopes: "
UNAVAILABLE = "The database cannot be reached: service_unavailable"
CSRF = (
    "A cookie session's unsafe request without the X-CSRF-Token header of its csrf_token cookie: csrf_failed "
    "(Swagger UI sends the page's cookies: Authorize with the Bearer token, or sign out of the page)"
)


class _Answer(fields.Raw):  # type: ignore[misc]  # untyped restx
    """The answer of a guarded operation whose view documents nothing better,
    inline (no model to register on the app's ``Api``)."""

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "message": {"type": "string", "example": "ok", "description": "ok, or the code of what happened"},
                "data": {"description": "The operation's data (see the guide of its helper), when it has some"},
            },
        }


ANSWER = _Answer()


def guarded_doc(
    roles: Optional[frozenset[str]],
    fresh: bool = False,
    scopes: Optional[frozenset[str]] = None,
    unsafe: bool = True,
) -> dict[str, Any]:
    """The ``__apidoc__`` of an operation guarded by ``auth.required``
    (``unsafe``: a method the CSRF rule applies to)."""
    responses = {"401": UNAUTHORIZED + (STALE if fresh else ""), "503": UNAVAILABLE}
    refusals = [FORBIDDEN] if roles is not None else []
    if scopes is not None:
        refusals.append(SCOPE + ", ".join(sorted(scopes)))
    if unsafe:
        refusals.append(CSRF)
    if refusals:
        responses["403"] = "; ".join(refusals)
    return {"security": [{SCHEME: []}], "responses": responses}


def mark_guarded(
    wrapper: Callable[..., Any],
    roles: Optional[frozenset[str]],
    fresh: bool = False,
    scopes: Optional[frozenset[str]] = None,
) -> None:
    """Document ``wrapper`` as guarded; what the view documents itself wins.

    A 200 with the generic ``{"message", "data"}`` schema is shown unless the
    view documents a success (below the guard, where it is seen).
    ``functools.wraps`` copied the view's ``__apidoc__`` (the same dict) onto
    ``wrapper``: it is merged into a new one, never changed in place.
    """
    own = getattr(wrapper, "__apidoc__", {})
    if own is False:  # hidden by @api.hide or @api.doc(False)
        return
    unsafe = wrapper.__name__.lower() not in ("get", "head", "options")  # a restx Resource's method
    doc = merge(guarded_doc(roles, fresh, scopes, unsafe), own)
    if "model" not in doc and not any(str(code).startswith("2") for code in doc["responses"]):
        doc["responses"]["200"] = ("ok", ANSWER)
    wrapper.__apidoc__ = doc  # type: ignore[attr-defined]


class Docs:
    """The models of our bodies and answers, registered on one restx ``Api``
    or ``Namespace``, and a decorator documenting each of our operations::

        docs = api_rest.document(api)

        @api.route('/login')
        class ApiLogin(Resource):
            @docs.login
            def post(self):
                return api_rest.login(role='admin')
    """

    def __init__(self, api: Union[Api, Namespace]):
        self.api = api
        self.error = api.model(
            "AuthError",
            {
                "message": fields.String(required=True, description="The stable code of the refusal"),
                "errors": fields.Raw(description="What is wrong with each field (bad_request)"),
            },
        )
        self.login_body = api.model(
            "AuthLogin",
            {
                "username": text(required=True),
                "password": text(required=True),
            },
        )
        code = text(description="The 6-digit code of the authenticator app")
        recovery_code = text(description="Or a recovery code (single use)")
        self.reauthenticate_body = api.model(
            "AuthReauthenticate",
            {
                "password": text(required=True),
                "code": text(description="Users with a second factor: its code (or recovery_code)"),
                "recovery_code": recovery_code,
            },
        )
        self.login_mfa_body = api.model(
            "AuthLoginMfa",
            {
                "mfa_token": text(required=True, description="From the mfa_required answer of login"),
                "code": code,
                "recovery_code": recovery_code,
            },
        )
        self.refresh_body = api.model(
            "AuthRefresh",
            {
                "refresh_token": fields.String(
                    description="From the last answer (none with the refresh cookie)",
                    min_length=1,
                    max_length=_refresh_token_limit,
                )
            },
        )
        kinds = {str: fields.String, int: fields.Integer, bool: fields.Boolean}
        self.forgot_body = api.model(
            "AuthForgotPassword", {"email": text(description="Either this"), "username": text(description="or this")}
        )
        self.reset_body = api.model(
            "AuthResetPassword",
            {
                "token": text(required=True, description="From the mailed link"),
                "new_password": text(required=True),
                "password_confirmed": text(required=True),
                "code": text(description="The second factor's code, for a user who has one"),
            },
        )
        self.email_body = api.model("AuthChangeEmail", {"email": text(required=True)})
        self.confirm_body = api.model("AuthConfirmEmail", {"token": text(required=True)})
        data = api.model(
            "AuthTokenPairData",
            {name: kinds[kind](description=text) for name, kind, text in (*TOKEN_ANSWER_FIELDS, CSRF_FIELD)},
        )
        self.token_pair = api.model(
            "AuthTokenPair", {"message": fields.String(example="ok"), "data": fields.Nested(data)}
        )

    def _operation(
        self, view: Callable[..., Any], body: Any, responses: dict[str, Any], body_required: bool = True
    ) -> Callable[..., Any]:
        """``view`` documented through restx's ``doc``: its body and answers."""
        params = {} if body_required else {"payload": {"required": False}}
        return self.api.doc(expect=[body], responses=responses, params=params)(view)  # type: ignore[no-any-return]

    def login(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Document a login operation (``api_rest.login``)."""
        return self._operation(
            view,
            self.login_body,
            {
                "200": ("Logged in: a new session and its tokens", self.token_pair),
                "400": ("bad_request (the body) or bad_credentials", self.error),
                "429": ("too_many_attempts: retry after Retry-After seconds", self.error),
                "503": (UNAVAILABLE, self.error),
            },
        )

    def login_mfa(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Document the second step of a login (``api_rest.login_mfa``)."""
        return self._operation(
            view,
            self.login_mfa_body,
            {
                "200": ("Logged in at aal2: a new session and its tokens", self.token_pair),
                "400": ("bad_request (the body) or bad_code", self.error),
                "401": ("unauthorized: the mfa_token is spent, expired or unknown", self.error),
                "429": ("too_many_attempts: retry after Retry-After seconds", self.error),
                "503": (UNAVAILABLE, self.error),
            },
        )

    def refresh(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Document a refresh operation (``api_rest.refresh``)."""
        return self._operation(
            view,
            self.refresh_body,
            {
                "200": ("A new pair of the same session", self.token_pair),
                "400": ("bad_request (the body)", self.error),
                "401": ("Invalid, expired or already spent refresh token", self.error),
                "503": (UNAVAILABLE, self.error),
            },
            body_required=False,  # the refresh cookie sends none
        )

    def reauthenticate(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Document a reauthentication (``api_rest.reauthenticate``, guarded)."""
        return self._operation(
            view,
            self.reauthenticate_body,
            {
                "200": ("The session counts as freshly authenticated", ANSWER),
                "400": ("bad_request (the body) or bad_credentials", self.error),
                "429": ("too_many_attempts: retry after Retry-After seconds", self.error),
            },
        )

    def security_events(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Document the listing of one's own events (``api_rest.security_events``, guarded)."""
        params = {
            "limit": {"in": "query", "type": "integer", "description": "1 to 500 (default 50)"},
            "offset": {"in": "query", "type": "integer", "description": "events skipped (default 0)"},
            "before": {"in": "query", "type": "string", "description": "an event id: the events older than it"},
        }
        responses = {"200": ("The caller's events, newest first", ANSWER), "400": ("bad_request (paging)", self.error)}
        return self.api.doc(params=params, responses=responses)(view)  # type: ignore[no-any-return]  # untyped restx

    def forgot_password(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Document a reset link request (``api_rest.forgot_password``)."""
        return self._operation(
            view,
            self.forgot_body,
            {
                "202": ("Whether or not the account exists: a link is mailed if it does", ANSWER),
                "400": ("bad_request (the body) or email_invalid", self.error),
                "404": ("not_found: recovery is off (no AUTH_RESET_URL)", self.error),
                "429": ("too_many_attempts: retry after Retry-After seconds", self.error),
            },
        )

    def reset_password(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Document a reset (``api_rest.reset_password``)."""
        return self._operation(
            view,
            self.reset_body,
            {
                "200": ("Password set, every session of the user ended", ANSWER),
                "400": ("invalid_token, bad_request or a password policy code", self.error),
                "404": ("not_found: recovery is off (no AUTH_RESET_URL)", self.error),
            },
        )

    def change_email(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Document an address change request (``api_rest.change_email``, guarded, fresh)."""
        return self._operation(
            view,
            self.email_body,
            {
                "202": ("A confirmation link goes to the new address, a notice to the current one", ANSWER),
                "400": ("bad_request, email_invalid or same_email", self.error),
            },
        )

    def confirm_email(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Document an address confirmation (``api_rest.confirm_email``)."""
        return self._operation(
            view,
            self.confirm_body,
            {
                "200": ("The account has the new address", ANSWER),
                "400": ("invalid_token, bad_request or email_taken", self.error),
            },
        )


def document(api: Union[Api, Namespace]) -> Docs:
    """Register our models on ``api``; the decorators that document our operations."""
    return Docs(api)

"""One exception hierarchy for every way a request can be refused.

Each class is a row of the HTTP table of the spec: ``message`` is the stable
code sent to clients and ``status`` the HTTP status. They are werkzeug
``HTTPException`` subclasses so that plain Flask and flask-restx both answer
with the right status even where no handler of ours is reached.

``json_errors(app, prefix)`` makes the rest of an API's answers JSON too:
under ``prefix``, Flask's and werkzeug's own errors (an unknown path, a
method not allowed...) and the ``OPTIONS`` answers.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Optional

import click
from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as PathNotFound
from werkzeug.wrappers import Response


def json_text(body: Any) -> str:
    """A JSON body as every answer of ours writes it: flask-restx's format
    (``json.dumps`` separators, one trailing newline), errors and successes alike."""
    return json.dumps(body) + "\n"


class ConfigError(click.ClickException, ValueError):
    """A configuration value is missing or invalid (raised at start-up).

    A click exception too: a ``flask`` command whose app factory meets it
    prints its one line (``Error: ...``) and exits 1, without a traceback.
    """


class PolicyError(ValueError):
    """A new username, password or account breaks a rule; ``code`` is
    machine-readable (``password_too_short``...), the text says why."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code


class AuthError(HTTPException):
    """Base class: a refused request with a machine-readable ``message``."""

    status = 401
    message = "unauthorized"

    def __init__(self, errors: Optional[dict[str, Any]] = None, headers: Optional[dict[str, str]] = None):
        super().__init__(description=self.message)
        self.code = self.status
        self.errors = errors
        self.headers = dict(headers or {})
        if self.status == 401:
            self.headers.setdefault("WWW-Authenticate", self.challenge())

    @property
    def data(self) -> dict[str, Any]:
        """The JSON body (flask-restx reads ``data`` from HTTP exceptions)."""
        body: dict[str, Any] = {"message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body

    def challenge(self) -> str:
        """The RFC 6750 ``WWW-Authenticate`` value for a 401."""
        error = {
            "invalid_token": "invalid_token",
            "signature_expired": "invalid_token",
            "fresh_login_required": "insufficient_user_authentication",  # RFC 9470
        }
        code = error.get(self.message)
        return f'Bearer realm="api", error="{code}"' if code else 'Bearer realm="api"'

    def get_response(self, environ: Any = None, scope: Any = None) -> Response:
        """The JSON answer (werkzeug and flask-restx ask the exception for it)."""
        return render(self)


def render(error: AuthError) -> Response:
    """The one place a refusal becomes an HTTP response (the extension's
    default error handler; an app's own handler for AuthError overrides it)."""
    return Response(json_text(error.data), error.status, error.headers, mimetype="application/json")


class Unauthorized(AuthError):
    status, message = 401, "unauthorized"


class InvalidToken(AuthError):
    status, message = 401, "invalid_token"


class TokenExpired(AuthError):
    status, message = 401, "signature_expired"


class PasswordChangeRequired(AuthError):
    status, message = 401, "password_change_required"


class FreshLoginRequired(AuthError):
    status, message = 401, "fresh_login_required"


class Forbidden(AuthError):
    status, message = 403, "forbidden"


class InsufficientScope(AuthError):
    """A personal access token without the route's scope, or on a route that
    names none (RFC 6750: ``insufficient_scope``); a session whose role lacks it."""

    status, message = 403, "insufficient_scope"

    def __init__(self, scopes: Optional[Iterable[str]] = None):
        challenge = 'Bearer realm="api", error="insufficient_scope"'
        if scopes:
            challenge += f', scope="{" ".join(sorted(scopes))}"'
        super().__init__(headers={"WWW-Authenticate": challenge})


class BadRequest(AuthError):
    status, message = 400, "bad_request"


class BadCredentials(AuthError):
    status, message = 400, "bad_credentials"


class TooManyAttempts(AuthError):
    status, message = 429, "too_many_attempts"

    def __init__(self, retry_after: int):
        super().__init__(headers={"Retry-After": str(int(retry_after))})
        self.retry_after = int(retry_after)


class ServiceUnavailable(AuthError):
    status, message = 503, "service_unavailable"


class NotFound(AuthError):
    status, message = 404, "not_found"


class CSRFFailed(AuthError):
    status, message = 403, "csrf_failed"


class InvalidLinkToken(AuthError):
    """The token of a mailed link that is spent, expired, unknown, or meant
    for another purpose (they all look the same)."""

    status, message = 400, "invalid_token"


class Refused(AuthError):
    """A request that breaks a rule (a ``PolicyError``): its code is the message,
    e.g. ``400 {"message":"password_too_short"}``."""

    status = 400

    def __init__(self, code: str):
        self.message = code
        super().__init__()


def http_error_code(error: HTTPException) -> str:
    """The ``message`` code of a werkzeug error: its name in snake case
    (``not_found``, ``method_not_allowed``, ``request_entity_too_large``)."""
    return re.sub(r"[^a-z0-9]+", "_", (error.name or "error").lower()).strip("_")


def http_error_parts(error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Body, status and headers (``Allow`` of a 405...) of a werkzeug error as JSON."""
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    return {"message": http_error_code(error)}, error.code or 500, headers


def json_errors(app: Flask, prefix: str, api: Any = None) -> None:
    """Answer JSON under the path ``prefix`` (e.g. ``"/admin"``), where Flask
    answers HTML: ``404 {"message": "not_found"}`` for an unknown path,
    ``405 {"message": "method_not_allowed"}`` with ``Allow``, any other
    werkzeug error likewise; ``OPTIONS`` on a route answers ``204`` with
    ``Allow`` and no body. ``api``, a flask-restx ``Api`` of that prefix,
    gets the same 404 and 405 codes (it answers its routes' errors itself).
    Refusals (``AuthError``) keep their own handler; other paths are left as
    they are.
    """
    root = "/" + prefix.strip("/")

    def under_prefix() -> bool:
        return request.path == root or request.path.startswith(root.rstrip("/") + "/")

    def answer_error(error: HTTPException) -> ResponseReturnValue:
        if not under_prefix() or error.code is None or error.code < 400:
            return error  # Flask's own answer (a redirect stays one)
        body, status, headers = http_error_parts(error)
        return Response(json_text(body), status, headers, mimetype="application/json")

    def answer_options() -> Optional[Response]:
        rule = request.url_rule
        if request.method != "OPTIONS" or rule is None or not under_prefix():
            return None
        if not getattr(rule, "provide_automatic_options", False):
            return None  # the view answers OPTIONS itself
        allowed = current_app.make_default_options_response().headers["Allow"]
        response = Response(status=204, headers={"Allow": allowed})
        del response.headers["Content-Type"]  # no body
        return response

    app.register_error_handler(HTTPException, answer_error)
    app.before_request(answer_options)
    if api is not None:
        for error_class in (PathNotFound, MethodNotAllowed):
            api.errorhandler(error_class)(http_error_parts)


class BadCode(AuthError):
    """A wrong, malformed, replayed or spent second-factor code."""

    status, message = 400, "bad_code"


class MfaEnrolmentRequired(AuthError):
    """The user's role needs a second factor: only enrolment is open."""

    status, message = 403, "mfa_enrolment_required"


class MfaAlreadyEnrolled(AuthError):
    status, message = 409, "mfa_already_enrolled"


class MfaNotEnrolled(AuthError):
    status, message = 409, "mfa_not_enrolled"


class InsufficientUserAuthentication(AuthError):
    """RFC 9470: the session's assurance level is below the route's."""

    status, message = 401, "insufficient_user_authentication"

    def __init__(self, acr_values: str):
        self.acr_values = acr_values
        super().__init__()

    def challenge(self) -> str:
        return f'Bearer error="insufficient_user_authentication", acr_values="{self.acr_values}"'

"""One exception hierarchy for every way a request can be refused.

Each class is a row of the HTTP table of the spec: ``message`` is the stable
code sent to clients and ``status`` the HTTP status. They are werkzeug
``HTTPException`` subclasses so that plain Flask and flask-restx both answer
with the right status even where no handler of ours is reached.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Optional

import click
from werkzeug.exceptions import HTTPException
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

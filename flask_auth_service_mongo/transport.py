"""Where tokens travel: the ``Authorization`` header or cookies, and the CSRF rule.

``request_token`` finds the access token of a request (``AUTH_TOKEN_LOCATION``),
``require_csrf`` guards cookie-authenticated requests that change something,
``attach_tokens`` and ``clear_cookies`` set and remove the three cookies.
No other module knows a cookie's name.

The CSRF token is an HMAC of the session id under a key derived from secret
material (``keys.KeyRing.derived_keys``: the app's secret, else the private
keys): bound to one session, checked without a database read, the same in
every process that shares the keys, and still valid after a signing-key
rotation.
"""

from __future__ import annotations

import base64
import hmac
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

from flask import Response, after_this_request, request

from .errors import AuthError, CSRFFailed, json_text
from .records import Client
from .state import get_state
from .tokens import ACCESS, MAX_ACCESS_TOKEN_LENGTH

if TYPE_CHECKING:
    from .records import TokenPair

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Body fields that carry token strings (left out with cookies alone).
TOKEN_FIELDS = ("token", "access_token", "refresh_token")
#: The longest token a header or a cookie brings (``tokens`` issues none longer).
MAX_TOKEN_LENGTH = MAX_ACCESS_TOKEN_LENGTH


class RequestToken(NamedTuple):
    """The access token of a request and whether a cookie brought it."""

    token: str
    from_cookie: bool


def parse_authorization_header(value: Optional[str]) -> Optional[str]:
    """The token of ``Bearer <token>``, or None for anything else."""
    if not value or not isinstance(value, str) or len(value) > MAX_TOKEN_LENGTH + len("Bearer "):
        return None
    parts = value.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1]


def request_client() -> Client:
    """Where the current request comes from, as a session records it."""
    return Client(request.remote_addr, request.user_agent.string)


def headers_enabled() -> bool:
    return "headers" in get_state().settings.token_location


def cookies_enabled() -> bool:
    return "cookies" in get_state().settings.token_location


def cookie(name: str) -> Optional[str]:
    value = request.cookies.get(name)
    return value if value and len(value) <= MAX_TOKEN_LENGTH else None


def request_token(locations: Optional[tuple[str, ...]] = None) -> Optional[RequestToken]:
    """The Bearer header when headers are enabled and one is sent, else the
    ``access_token`` cookie when cookies are enabled; None when neither.
    ``locations``: ``AUTH_TOKEN_LOCATION`` when the caller has it at hand."""
    locations = locations if locations is not None else get_state().settings.token_location
    if "headers" in locations:
        environ = request._get_current_object().environ  # type: ignore[attr-defined]  # one proxy lookup, not three
        token = parse_authorization_header(environ.get("HTTP_AUTHORIZATION"))
        if token is not None:
            return RequestToken(token, from_cookie=False)
    if "cookies" in locations:
        token = cookie(ACCESS_COOKIE)
        if token is not None:
            return RequestToken(token, from_cookie=True)
    return None


def refresh_cookie() -> Optional[str]:
    """The ``refresh_token`` cookie when cookies are enabled."""
    return cookie(REFRESH_COOKIE) if cookies_enabled() else None


def cookie_session_ends(user_id: object, session_id: Optional[str] = None) -> bool:
    """Whether the request's ``access_token`` cookie belongs to ``user_id``'s
    session ``session_id`` (any of its sessions when None): the cookies to
    clear when those sessions end."""
    token = cookie(ACCESS_COOKIE) if cookies_enabled() else None
    if token is None:
        return False
    try:
        claims = get_state().tokens.decode(token, ACCESS)
    except AuthError:
        return False
    return claims["sub"] == str(user_id) and session_id in (None, claims["sid"])


def csrf_token(session_id: str, key: Optional[bytes] = None) -> str:
    """The CSRF token of a session (under the current key unless ``key``)."""
    key = key if key is not None else get_state().settings.keys.derived_keys[0]
    digest = hmac.new(key, b"csrf:" + session_id.encode("utf-8"), "sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def require_csrf(session_id: str) -> None:
    """Refuse an unsafe request whose ``X-CSRF-Token`` is not the session's.

    Tokens under every derived key of the ring pass: an older HMAC secret's
    while it verifies, a private key's kept in ``AUTH_VERIFY_KEYS``.
    """
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER, "").encode("utf-8", "replace")
    matches = False
    for key in get_state().settings.keys.derived_keys:
        matches |= hmac.compare_digest(given, csrf_token(session_id, key).encode("ascii"))
    if not matches:
        raise CSRFFailed()


def shape_body(body: dict[str, Any], session_id: str) -> dict[str, Any]:
    """A login or refresh body as the token locations want it: with the CSRF
    token when cookies are on, without token strings with cookies alone."""
    if not cookies_enabled():
        return body
    data = dict(body["data"])
    data["csrf_token"] = csrf_token(session_id)
    if not headers_enabled():
        for name in TOKEN_FIELDS:
            data.pop(name, None)
    return {**body, "data": data}


def cookie_options() -> dict[str, Any]:
    settings = get_state().settings
    return {"secure": settings.cookie_secure, "samesite": settings.cookie_samesite, "domain": settings.cookie_domain}


def attach_tokens(response: Response, pair: TokenPair) -> Response:
    """Set the three cookies of ``pair`` (nothing when cookies are off)."""
    if not cookies_enabled():
        return response
    options = cookie_options()
    session_age = max(0, int((pair.session_expires_at - pair.issued_at).total_seconds()))
    access_age = max(0, int((pair.access_expires_at - pair.issued_at).total_seconds()))
    refresh_path = get_state().settings.refresh_cookie_path
    response.set_cookie(ACCESS_COOKIE, pair.access_token, max_age=access_age, path="/", httponly=True, **options)
    response.set_cookie(
        REFRESH_COOKIE, pair.refresh_token, max_age=session_age, path=refresh_path, httponly=True, **options
    )
    # Readable by scripts so they can echo it in X-CSRF-Token; it lives as
    # long as the session, as a refresh needs it after the access cookie.
    response.set_cookie(CSRF_COOKIE, csrf_token(pair.session_id), max_age=session_age, path="/", **options)
    return response


def clear_cookies(response: Response) -> Response:
    """Expire the three cookies (``Max-Age=0``; nothing when cookies are off)."""
    if not cookies_enabled():
        return response
    options = cookie_options()
    paths = {ACCESS_COOKIE: "/", REFRESH_COOKIE: get_state().settings.refresh_cookie_path, CSRF_COOKIE: "/"}
    for name, path in paths.items():
        response.set_cookie(name, "", max_age=0, expires=0, path=path, httponly=name != CSRF_COOKIE, **options)
    return response


Answer = Union[tuple[dict[str, Any], int], Response]


def forbid_caching() -> None:
    """The response to this request carries ``Cache-Control: no-store``
    (RFC 6749, section 5.1: answers with tokens must not be cached)."""

    @after_this_request
    def no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response


def answer(body: dict[str, Any], status: int, pair: Optional[TokenPair] = None, clear: bool = False) -> Answer:
    """``(body, status)`` as the helpers return it; with cookies on, a Response
    carrying the cookies of ``pair`` (or clearing them when ``clear``)."""
    if not cookies_enabled():
        return body, status
    response = Response(json_text(body), status, mimetype="application/json")  # as every body is written
    if pair is not None:
        attach_tokens(response, pair)
    if clear:
        clear_cookies(response)
    return response

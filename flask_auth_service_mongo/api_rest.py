"""REST helpers: each returns ``(body, status)`` for a view or a flask-restx Resource."""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Union

from bson import ObjectId
from flask import Response as FlaskResponse
from flask import request
from pymongo.errors import PyMongoError
from werkzeug.exceptions import RequestEntityTooLarge

from . import sessions as store
from . import throttle
from .auth import RoleSpec, allowed_roles, answers_refusals, authenticate, claims_user_id
from .database import unavailable_on_error
from .errors import BadCredentials, BadRequest, NotFound, Unauthorized
from .extension import get_state
from .models import User, canonical_username
from .passwords import check_password, hash_password, hash_rounds
from .tokens import ACCESS, REFRESH

log = logging.getLogger("flask_auth_service_mongo")

MAX_BODY_BYTES = 16 * 1024
MAX_FIELD_LENGTH = 1024

#: ``(body, status)`` on success; a refusal is the error's own response.
Response = Union[tuple[dict, int], FlaskResponse]


def read_json_body(max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a JSON object of at most ``max_bytes``; else BadRequest."""
    limit = request.max_content_length
    request.max_content_length = min(limit, max_bytes) if limit else max_bytes
    try:
        body = json.loads(request.get_data(cache=True))
    except RequestEntityTooLarge:
        raise BadRequest({"body": "too large"}) from None
    except (ValueError, RecursionError):
        raise BadRequest({"body": "must be a JSON object"}) from None
    if not isinstance(body, dict):
        raise BadRequest({"body": "must be a JSON object"})
    return body


def read_json_object(fields: tuple[str, ...]) -> dict[str, str]:
    """The request body as an object of exactly ``fields``, all strings; else 400."""
    body = read_json_body()
    errors = {key: "unknown field" for key in body if key not in fields}
    for name in fields:
        value = body.get(name)
        if value is None:
            errors[name] = "required"
        elif not isinstance(value, str):
            errors[name] = "must be a string"
        elif not value or len(value) > MAX_FIELD_LENGTH:
            errors[name] = f"must be 1 to {MAX_FIELD_LENGTH} characters"
        elif not is_unicode_text(value):
            errors[name] = "must be valid Unicode text"
    if errors:
        raise BadRequest(errors)
    return body


def is_unicode_text(value: str) -> bool:
    """False for lone surrogates (JSON allows ``"\\ud800"``; UTF-8 and BSON do not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def epoch(moment: datetime) -> int:
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


def token_pair_body(
    user_id: ObjectId,
    session_id: str,
    expires_at: datetime,
    refresh_token: str,
    role: Optional[str],
    change_password: bool,
    now: datetime,
) -> dict:
    """The body of a login or refresh: a new access token beside ``refresh_token``."""
    state = get_state()
    access_expiry = min(now + timedelta(minutes=state.settings.token_expire_minutes), expires_at)
    access = state.tokens.issue(ACCESS, str(user_id), session_id, epoch(access_expiry), epoch(now))
    return {
        "message": "ok",
        "data": {
            "token": access.token,
            "access_token": access.token,
            "token_type": "Bearer",
            "refresh_token": refresh_token,
            "expires_in": round((access_expiry - now).total_seconds() / 60),
            "change_password": bool(change_password),
            "role": role,
        },
    }


@answers_refusals
def login(role: RoleSpec = None) -> Response:
    """Check the credentials of the JSON body and open a session."""
    settings = get_state().settings
    body = read_json_object(("username", "password"))
    username, ip = canonical_username(body["username"]), request.remote_addr or ""
    roles = allowed_roles(role)
    with unavailable_on_error():
        throttle.take_attempt(username, ip)
        user = User.find_by_username(username)
        matches = check_password(body["password"], user.password if user else None, settings.bcrypt_rounds)
        role_name = user.role_name if user is not None else None
        if not matches or not user.active or (roles is not None and role_name not in roles):
            log.warning("failed login for %r from %s", username[:128], ip)
            raise BadCredentials()
        if hash_rounds(user.password) < settings.bcrypt_rounds:
            # Upgrade the hash to the configured cost; no session ends.
            if not user.swap_password(hash_password(body["password"], settings.bcrypt_rounds)):
                raise BadCredentials()  # a concurrent password change won
        answer = open_session(user, role_name)
        throttle.reset(username, ip)
        return answer


def open_session(user: User, role_name: Optional[str]) -> Response:
    state = get_state()
    now = store.utcnow()
    session_id = store.new_session_id()
    expires_at = now + timedelta(minutes=state.settings.refresh_token_expire_minutes)
    refresh = state.tokens.issue(REFRESH, str(user.pk), session_id, epoch(expires_at), epoch(now))
    store.insert(
        session_id=session_id,
        user_id=user.pk,
        role=role_name,
        change_password=user.change_password,
        refresh_jti=refresh.jti,
        expires_at=expires_at,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        now=now,
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
    body = token_pair_body(user.pk, session_id, expires_at, refresh.token, role_name, user.change_password, now)
    return body, 200


@answers_refusals
def logout() -> Response:
    """End the session of the request's Bearer token."""
    identity = authenticate()
    with unavailable_on_error():
        store.end(identity.session_id, identity.user_id)
    get_state().tokens.forget(identity.token)
    log.info("logout: a session of user %s ended (from %s)", identity.user_id, request.remote_addr)
    return {"message": "ok"}, 200


@answers_refusals
def refresh() -> Response:
    """Spend the refresh token of the body for a new pair of the same session.

    A refresh token that was already spent ends the whole session (theft).
    """
    body = read_json_object(("refresh_token",))
    return exchange_refresh_token(body["refresh_token"]), 200


def exchange_refresh_token(refresh_token: str) -> dict:
    """The login-shaped body for a new pair; raises AuthError when refused."""
    state = get_state()
    claims = state.tokens.decode(refresh_token, REFRESH)
    user_id, session_id = claims_user_id(claims), claims["sid"]
    now = store.utcnow()
    expires_at = datetime.fromtimestamp(claims["exp"], timezone.utc).replace(tzinfo=None)
    new_refresh = state.tokens.issue(REFRESH, str(user_id), session_id, claims["exp"], epoch(now))
    with unavailable_on_error():
        session = store.rotate(session_id, user_id, claims["jti"], new_refresh.jti, now)
        if session is None:
            handle_spent_refresh(session_id, user_id, claims["jti"], now)
    role, change_password = session.get("role"), bool(session.get("change_password"))
    return token_pair_body(user_id, session_id, expires_at, new_refresh.token, role, change_password, now)


def handle_spent_refresh(session_id: str, user_id: ObjectId, jti: str, now: datetime) -> None:
    """A refresh token that is not the current one: end the family, refuse."""
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
        if not retried:
            store.end(session_id, user_id)
            log.warning("refresh token replayed: session of user %s ended (from %s)", user_id, request.remote_addr)
    raise Unauthorized()


@answers_refusals
def logout_all() -> Response:
    """End every session of the current user, this one included."""
    identity = authenticate()
    with unavailable_on_error():
        ended = store.end_all(identity.user_id)
    get_state().tokens.forget(identity.token)
    log.info("logout everywhere: %d sessions of user %s ended (from %s)", ended, identity.user_id, request.remote_addr)
    return {"message": "ok", "data": {"ended": ended}}, 200


def iso(moment: Optional[datetime]) -> Optional[str]:
    return moment.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


@answers_refusals
def sessions() -> Response:
    """The live sessions of the current user, newest first."""
    identity = authenticate()
    with unavailable_on_error():
        found = store.list_live(identity.user_id, store.utcnow())
    data: list[dict[str, Any]] = [
        {
            "id": s["_id"],
            "created_at": iso(s.get("created_at")),
            "last_used_at": iso(s.get("last_used_at")),
            "ip": s.get("ip") or None,  # "" was stored before
            "user_agent": s.get("user_agent") or None,
            "current": s["_id"] == identity.session_id,
        }
        for s in found
    ]
    return {"message": "ok", "data": data}, 200


@answers_refusals
def revoke_session(session_id: str) -> Response:
    """End one of the current user's own sessions; 404 for any other id."""
    identity = authenticate()
    if not isinstance(session_id, str):
        raise NotFound()
    with unavailable_on_error():
        ended = store.end(session_id, identity.user_id)
    if not ended:
        raise NotFound()
    log.info("session revoked by user %s (from %s)", identity.user_id, request.remote_addr)
    return {"message": "ok"}, 200

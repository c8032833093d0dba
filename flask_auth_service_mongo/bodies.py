"""Reading JSON request bodies: bounded, and every flaw a 400, never a 500."""

from __future__ import annotations

import json
from typing import Any, Optional

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import BadRequest

MAX_BODY_BYTES = 16 * 1024
MAX_FIELD_LENGTH = 1024


def read_json_body(max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a JSON object of at most ``max_bytes``, sent as
    ``application/json`` (no cross-site form can, without a CORS preflight);
    else BadRequest."""
    if not request.is_json:
        raise BadRequest({"Content-Type": "must be application/json"})
    limit = request.max_content_length
    request.max_content_length = min(limit, max_bytes) if limit else max_bytes
    try:
        body = json.loads(request.get_data(cache=True))
    except RequestEntityTooLarge:
        raise BadRequest({"body": "too large"}) from None
    except json.JSONDecodeError as error:
        raise BadRequest({"body": f"invalid JSON at line {error.lineno} column {error.colno}"}) from None
    except UnicodeDecodeError:
        raise BadRequest({"body": "invalid JSON: not UTF-8 text"}) from None
    except RecursionError:
        raise BadRequest({"body": "invalid JSON: nested too deeply"}) from None
    except ValueError:
        raise BadRequest({"body": "invalid JSON"}) from None
    if not isinstance(body, dict):
        raise BadRequest({"body": "must be a JSON object"})
    return body


def read_json_fields(fields: tuple[str, ...]) -> dict[str, Any]:
    """The request body as an object of at most ``fields`` (of any type, for
    the caller to check); an unknown field is a 400."""
    body = read_json_body()
    unknown = unknown_fields(body, fields)
    if unknown:
        raise BadRequest(unknown)
    return body


def unknown_fields(body: dict[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    return {key: "unknown field" for key in body if key not in fields}


def read_json_object(
    fields: tuple[str, ...], optional: tuple[str, ...] = (), limits: Optional[dict[str, int]] = None
) -> dict[str, str]:
    """The request body as an object of exactly ``fields`` (and any of
    ``optional``), all strings of at most ``MAX_FIELD_LENGTH`` characters or
    their own ``limits``; else 400."""
    body = read_json_body()
    errors = unknown_fields(body, (*fields, *optional))
    limits = limits or {}
    for name in (*fields, *(key for key in optional if body.get(key) is not None)):
        problem = string_problem(body.get(name), limits.get(name, MAX_FIELD_LENGTH))
        if problem:
            errors[name] = problem
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


def read_one_of(
    required: tuple[str, ...], choices: dict[str, type], optional: bool = False
) -> tuple[dict[str, Any], Optional[str]]:
    """The request body as an object of the ``required`` strings and exactly
    one of the ``choices`` (field -> the type of its value; at most one when
    ``optional``); and which one was given. Else BadRequest."""
    body = read_json_body()
    errors = {key: "unknown field" for key in body if key not in required and key not in choices}
    for name in required:
        problem = string_problem(body.get(name))
        if problem:
            errors[name] = problem
    given = [name for name in choices if name in body]
    if len(given) > 1 or (not given and not optional):
        errors[given[1] if given else next(iter(choices))] = f"give {'at most' if optional else 'exactly'} one of " + (
            " or ".join(choices)
        )
    elif given and choices[given[0]] is str:
        problem = string_problem(body[given[0]])
        if problem:
            errors[given[0]] = problem
    elif given and not isinstance(body[given[0]], choices[given[0]]):
        errors[given[0]] = f"must be a JSON {choices[given[0]].__name__}"
    if errors:
        raise BadRequest(errors)
    return body, given[0] if given else None


def string_problem(value: Any, limit: int = MAX_FIELD_LENGTH) -> str:
    """What makes ``value`` no acceptable string field of at most ``limit``
    characters ("" when it is one)."""
    if value is None:
        return "required"
    if not isinstance(value, str):
        return "must be a string"
    if not value or len(value) > limit:
        return f"must be 1 to {limit} characters"
    if not is_unicode_text(value):
        return "must be valid Unicode text"
    return ""

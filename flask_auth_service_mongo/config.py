"""Every configuration key, its default, its parsing and its validation.

Values come from ``app.config`` first, then from the environment variable
names of 0.1.8, then from the defaults below. They are parsed once, at
start-up, so a bad value fails there with the key's name.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from flask import Flask
from pymongo import uri_parser
from pymongo.errors import PyMongoError

from . import keys
from .errors import ConfigError

log = logging.getLogger("flask_auth_service_mongo")

#: 0.1.8 environment variable -> config key.
LEGACY_ENV = {
    "SECRET_KEY": "AUTH_SECRET_KEY",
    "WHITE_LIST_TOKEN": "AUTH_WHITE_LIST_TOKEN",
    "TOKEN_EXPIRE_MINUTES": "AUTH_TOKEN_EXPIRE_MINUTES",
    "USERNAME_MIN_LENGTH": "AUTH_USERNAME_MIN_LENGTH",
    "PASSWORD_MIN_LENGTH": "AUTH_PASSWORD_MIN_LENGTH",
    "RESET_PASSWORD_LEN_GENERATOR": "AUTH_RESET_PASSWORD_LENGTH",
    "REQUIRE_PASSWORD_CHANGE": "AUTH_REQUIRE_PASSWORD_CHANGE",
}


def parse_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{key} must be true or false, got {value!r}")


def int_parser(minimum: int, maximum: Optional[int] = None) -> Callable[[str, Any], int]:
    def parse(key: str, value: Any) -> int:
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be a whole number, got {value!r}")
        try:
            number = int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, got {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum else f"at least {minimum}"
            raise ConfigError(f"{key} must be {bound}, got {number}")
        return number

    return parse


def parse_mongodb_uri(key: str, value: Any) -> str:
    """A MongoDB URI, given the default database name when it names none."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a MongoDB URI")
    if value.startswith("mongomock://"):
        return value
    if value.startswith("mongodb://"):
        try:
            database = uri_parser.parse_uri(value)["database"]
        except (PyMongoError, ValueError):
            raise ConfigError(f"{key} is not a valid MongoDB URI") from None
    elif value.startswith("mongodb+srv://"):
        database = urlsplit(value).path.strip("/") or None
    else:
        raise ConfigError(f"{key} must start with mongodb://, mongodb+srv:// or mongomock://")
    if database:
        return value
    address, _, options = value.partition("?")
    return address.rstrip("/") + "/" + DEFAULT_DATABASE + ("?" + options if options else "")


def parse_names(key: str, value: Any) -> tuple[str, ...]:
    """A comma-separated string or a list of names, at least one."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{key} must be a comma-separated string or a list of names")
    names = tuple(n.strip() for n in names if n.strip())
    if not names:
        raise ConfigError(f"{key} must name at least one role")
    return names


def parse_role_list(key: str, value: Any) -> tuple[str, ...]:
    """A comma-separated string or a list of role names, maybe none."""
    if value is None or value == "" or value == [] or value == ():
        return ()
    return parse_names(key, value)


def parse_secrets(key: str, value: Any) -> tuple[str, ...]:
    """None, or one secret (32 bytes or more) or a list of them, newest first."""
    if value is None or value == "":
        return ()
    found = [value] if isinstance(value, str) else value
    if not isinstance(found, (list, tuple)) or not found or not all(isinstance(v, str) for v in found):
        raise ConfigError(f"{key} must be a secret string or a list of them, newest first")
    if any(len(v.encode("utf-8", "surrogateescape")) < 32 for v in found):
        raise ConfigError(
            f"{key} must be at least 32 bytes long (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return tuple(found)


def optional(parse: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    def parse_optional(key: str, value: Any) -> Any:
        return None if value is None else parse(key, value)

    return parse_optional


def parse_algorithm(key: str, value: Any) -> str:
    if value not in keys.ALGORITHMS:
        raise ConfigError(f"{key} must be one of {', '.join(keys.ALGORITHMS)}, got {value!r}")
    return str(value)


TOKEN_LOCATIONS = ("headers", "cookies")
SAMESITE_VALUES = ("Lax", "Strict", "None")


def parse_locations(key: str, value: Any) -> tuple[str, ...]:
    """``headers``, ``cookies`` or both: a comma-separated string or a list."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{key} must be 'headers', 'cookies' or both ('headers,cookies' or a list)")
    chosen = {n.strip().lower() for n in names if n.strip()}
    if not chosen or not chosen <= set(TOKEN_LOCATIONS):
        raise ConfigError(f"{key} must be 'headers', 'cookies' or both, got {value!r}")
    return tuple(n for n in TOKEN_LOCATIONS if n in chosen)


def parse_samesite(key: str, value: Any) -> str:
    for allowed in SAMESITE_VALUES:
        if isinstance(value, str) and value.strip().lower() == allowed.lower():
            return allowed
    raise ConfigError(f"{key} must be one of {', '.join(SAMESITE_VALUES)}, got {value!r}")


def parse_cookie_domain(key: str, value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\.?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", value):
        raise ConfigError(f"{key} must be a domain name such as example.com, got {value!r}")
    return value


def parse_cookie_path(key: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"/[!#-:<-~]*", value):
        raise ConfigError(f"{key} must be a URL path starting with '/', without spaces or ';', got {value!r}")
    return value


def parse_callable(key: str, value: Any) -> Optional[Callable[..., Any]]:
    if value is None or callable(value):
        sender: Optional[Callable[..., Any]] = value
        return sender
    raise ConfigError(f"{key} must be a callable (to, subject, text, html), got {value!r}")


def parse_link_url(key: str, value: Any) -> Optional[str]:
    """An absolute http(s) URL with ``{token}`` in it once; empty: none."""
    if value is None or value == "":
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or value.count("{token}") != 1:
        raise ConfigError(f"{key} must be an absolute http(s) URL with {{token}} in it once, got {value!r}")
    if any(c.isspace() for c in value):
        raise ConfigError(f"{key} must not contain spaces or line breaks")
    return str(value)


DEFAULT_DATABASE = "flask_auth"


def parse_text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a non-empty string")
    return value.strip()


@dataclass(frozen=True)
class Key:
    """One configuration key, declared once: its default, its parser (None:
    read with the key material, ``keys.load``), its line in the docs' table
    and, where the default is no plain value, how the docs show it."""

    name: str
    default: Any
    parse: Optional[Callable[[str, Any], Any]]
    description: str
    shown: Optional[str] = None


def parse_rp_id(key: str, value: Any) -> Optional[str]:
    """A WebAuthn relying party id: a host name (no scheme, port or path)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", value):
        raise ConfigError(f"{key} must be a domain name such as example.com or localhost, got {value!r}")
    return value.lower()


def parse_origins(key: str, value: Any) -> tuple[str, ...]:
    """Origins (``scheme://host[:port]``): a comma-separated string or a list; empty: the default."""
    names = value.split(",") if isinstance(value, str) else (value or [])
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{key} must be a comma-separated string or a list of origins")
    origins = tuple(n.strip().rstrip("/") for n in names if n.strip())
    for origin in origins:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
            raise ConfigError(f"{key}: {origin!r} is not an origin such as https://example.com")
    return origins


#: Every key the extension reads, in the order of the docs' configuration table.
DECLARED: tuple[Key, ...] = (
    Key(
        "MONGODB_URI",
        "mongodb://localhost:27017/" + DEFAULT_DATABASE,
        parse_mongodb_uri,
        "connection; ``mongomock://localhost/NAME`` is the in-memory backend",
    ),
    Key(
        "AUTH_SECRET_KEY",
        None,
        None,
        "signing key of the ``HS*`` algorithms; required for them, at least 32 bytes unless testing or debug; "
        "with any algorithm the CSRF tokens derive from it (keep it across a key rotation)",
        shown="Flask's ``SECRET_KEY``",
    ),
    Key(
        "AUTH_ALGORITHM",
        "HS256",
        parse_algorithm,
        "JWT algorithm, pinned when verifying: ``HS256/384/512``, ``RS256/384/512``, ``PS256/384/512``, "
        "``ES256/384/512``, ``EdDSA``",
    ),
    Key(
        "AUTH_PRIVATE_KEY",
        None,
        None,
        "signing key of the RSA, EC and EdDSA algorithms: PEM text or the path of a PEM file (RSA: 2048 bits or more)",
        shown="none",
    ),
    Key("AUTH_PUBLIC_KEY", None, None, "optional; must match ``AUTH_PRIVATE_KEY``", shown="from ``AUTH_PRIVATE_KEY``"),
    Key("AUTH_KEY_ID", None, None, "``kid`` header of new tokens", shown="derived from the key"),
    Key(
        "AUTH_VERIFY_KEYS",
        None,
        None,
        "older keys still accepted (verification only): a mapping kid → key, or a list of keys",
        shown="none",
    ),
    Key("AUTH_TOKEN_EXPIRE_MINUTES", 60, int_parser(1), "access token lifetime, in minutes (``expires_in``)"),
    Key(
        "AUTH_REFRESH_TOKEN_EXPIRE_MINUTES",
        10080,
        int_parser(1),
        "refresh token and session lifetime, in minutes (not extended by refreshes)",
    ),
    Key(
        "AUTH_WHITE_LIST_TOKEN",
        True,
        parse_bool,
        "sessions checked on every request; false: stateless tokens logout cannot revoke",
    ),
    Key("AUTH_USERNAME_MIN_LENGTH", 3, int_parser(1, 256), "shortest username accepted for new users"),
    Key(
        "AUTH_PASSWORD_MIN_LENGTH",
        8,
        int_parser(1, 72),
        "shortest new password; passwords over 72 UTF-8 bytes are refused, never truncated",
    ),
    Key("AUTH_RESET_PASSWORD_LENGTH", 16, int_parser(8, 72), "length of generated reset passwords"),
    Key("AUTH_REQUIRE_PASSWORD_CHANGE", False, parse_bool, "default of ``auth.required(require_password_change=...)``"),
    Key("AUTH_BCRYPT_ROUNDS", 12, int_parser(4, 31), "cost of new hashes; weaker hashes are upgraded at login"),
    Key(
        "AUTH_LOGIN_MAX_ATTEMPTS",
        5,
        int_parser(1),
        "failed logins per account before a lockout (per account and client IP when "
        "``AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS`` is higher)",
    ),
    Key(
        "AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS",
        None,
        optional(int_parser(1)),
        "failed logins for one username from all IPs before a lockout for everyone",
        shown="``AUTH_LOGIN_MAX_ATTEMPTS``",
    ),
    Key(
        "AUTH_LOGIN_LOCKOUT_SECONDS",
        900,
        int_parser(1),
        "lockout length (``Retry-After``); failures are forgotten after as long without one",
    ),
    Key(
        "AUTH_LOGIN_IP_MAX_ATTEMPTS",
        50,
        int_parser(0),
        "failed logins from one client IP, whatever the usernames, before that IP is locked out (0 turns it off)",
    ),
    Key(
        "AUTH_METRICS",
        False,
        parse_bool,
        "Prometheus metrics in ``AuthService.metrics_registry`` (needs the ``[metrics]`` extra; see the production "
        "guide)",
    ),
    Key(
        "AUTH_ISSUER",
        None,
        optional(parse_text),
        "when set, the ``iss`` of every token, required when verifying one",
        shown="none",
    ),
    Key(
        "AUTH_AUDIENCE",
        None,
        optional(parse_text),
        "when set, the ``aud`` of every token, required when verifying one (another audience: ``401 invalid_token``)",
        shown="none",
    ),
    Key("AUTH_LEEWAY_SECONDS", 0, int_parser(0, 300), "clock leeway when checking ``exp``"),
    Key(
        "AUTH_REFRESH_REUSE_GRACE_SECONDS",
        0,
        int_parser(0, 60),
        "a replay of the token spent this many seconds ago is refused without ending the session",
    ),
    Key("AUTH_LAST_USED_INTERVAL_SECONDS", 60, int_parser(1), "at most one last-use write per session per interval"),
    Key("AUTH_TOKEN_CACHE_SIZE", 4096, int_parser(0), "verified access tokens remembered (0 turns the cache off)"),
    Key("AUTH_MONGODB_TIMEOUT_MS", 3000, int_parser(100), "server selection, connect and socket timeouts"),
    Key(
        "AUTH_ADMIN_ROLES",
        "admin",
        parse_names,
        "roles allowed the GraphQL account operations, highest first (comma-separated or a list; see Security)",
    ),
    Key(
        "AUTH_SESSION_IDLE_MINUTES",
        0,
        int_parser(0),
        "a session unused this long ends; at least twice ``AUTH_LAST_USED_INTERVAL_SECONDS``",
        shown="0 (off)",
    ),
    Key(
        "AUTH_MAX_SESSIONS_PER_USER",
        100,
        int_parser(0),
        "a login beyond this many live sessions ends the least recently used ones",
        shown="100 (0: no limit)",
    ),
    Key(
        "AUTH_TOKEN_LOCATION",
        "headers",
        parse_locations,
        'where tokens travel: ``headers``, ``cookies`` or both (``"headers,cookies"`` or a list)',
    ),
    Key(
        "AUTH_COOKIE_SECURE",
        True,
        parse_bool,
        "``Secure`` attribute of the cookies; false is refused unless testing or debug",
    ),
    Key(
        "AUTH_COOKIE_SAMESITE",
        "Lax",
        parse_samesite,
        "``Lax``, ``Strict`` or ``None`` (``None`` needs ``AUTH_COOKIE_SECURE``)",
    ),
    Key(
        "AUTH_COOKIE_DOMAIN",
        None,
        parse_cookie_domain,
        "``Domain`` attribute of the cookies (none: the host that answered only)",
    ),
    Key(
        "AUTH_REFRESH_COOKIE_PATH", "/", parse_cookie_path, "the ``refresh_token`` cookie is sent only under this path"
    ),
    Key(
        "AUTH_WEBAUTHN_RP_ID",
        None,
        parse_rp_id,
        "passkeys: the relying party id, a registrable domain (``localhost`` in development); none: passkeys off",
        shown="none (passkeys off)",
    ),
    Key(
        "AUTH_WEBAUTHN_RP_NAME",
        None,
        optional(lambda key, value: str(value)),
        "passkeys: the name the authenticator shows",
        shown="the app's name",
    ),
    Key(
        "AUTH_WEBAUTHN_ORIGINS",
        (),
        parse_origins,
        "passkeys: the origins whose assertions are accepted (comma-separated or a list)",
        shown="``https://<AUTH_WEBAUTHN_RP_ID>``",
    ),
    Key(
        "AUTH_SESSION_CACHE",
        False,
        parse_bool,
        "a per-process mirror of the sessions read, kept current by change streams (see the session cache guide)",
    ),
    Key(
        "AUTH_SESSION_CACHE_MAX_LAG_MS",
        500,
        int_parser(20, 60_000),
        "the mirror is trusted only until this long after the sending of a watermark write its change stream "
        "delivered (every change committed before it is applied)",
    ),
    Key(
        "AUTH_SESSION_CACHE_SIZE",
        100_000,
        int_parser(1),
        "sessions held in the mirror at most (least recently used dropped)",
    ),
    Key(
        "AUTH_AUDIT_RETENTION_DAYS",
        90,
        int_parser(0, 36_500),
        "security events are kept in ``auth_event`` this many days (a TTL index); 0 keeps none (see the audit "
        "trail guide)",
        shown="90 (0: no audit trail)",
    ),
    Key(
        "AUTH_PERSONAL_TOKEN_MAX_DAYS",
        365,
        int_parser(1, 3660),
        "longest lifetime of a personal access token, in days (``expires_in_days``)",
    ),
    Key(
        "AUTH_MAIL_SENDER",
        None,
        parse_callable,
        "how mails leave: a callable ``(to, subject, text, html)``; none: SMTP through Flask-Mailman from the "
        "``MAIL_*`` keys (see Recovery)",
        shown="SMTP from ``MAIL_SERVER``, ``MAIL_PORT``... (Flask-Mailman)",
    ),
    Key(
        "AUTH_RESET_URL",
        None,
        parse_link_url,
        "the page a password reset link opens, with ``{token}`` in it; none turns recovery off",
        shown="none (recovery off)",
    ),
    Key(
        "AUTH_EMAIL_CONFIRM_URL",
        None,
        parse_link_url,
        "the page an address confirmation link opens, with ``{token}`` in it; none turns ``change_email`` off",
        shown="none (address changes off)",
    ),
    Key(
        "AUTH_RESET_TOKEN_MINUTES",
        30,
        int_parser(1, 10080),
        "lifetime of a mailed link (password reset, address confirmation), in minutes",
    ),
    Key(
        "AUTH_MFA_REQUIRED_ROLES",
        (),
        parse_role_list,
        "roles whose users must have a second factor: without one, their sessions serve only the enrolment "
        "helpers (``403 mfa_enrolment_required`` elsewhere)",
        shown="none",
    ),
    Key(
        "AUTH_MFA_ISSUER",
        None,
        optional(parse_text),
        "the issuer authenticator apps show beside the username",
        shown="the app's name",
    ),
    Key(
        "AUTH_MFA_TOKEN_SECONDS",
        300,
        int_parser(30, 3600),
        "lifetime of the single-use ``mfa_token`` between the password and the second factor",
    ),
    Key(
        "AUTH_FACTOR_KEY",
        None,
        parse_secrets,
        "the secret (or a list, newest first) that encrypts TOTP secrets at rest; set it in production, else "
        "keys derived from the signing material are used (see the second factor guide)",
        shown="derived from the signing material",
    ),
)
#: key -> (default, parser), for the keys parsed here.
KEYS: dict[str, tuple[Any, Callable[[str, Any], Any]]] = {k.name: (k.default, k.parse) for k in DECLARED if k.parse}
#: key -> its line (reST) in the docs' configuration table.
DESCRIPTIONS: dict[str, str] = {k.name: k.description for k in DECLARED}
_SHOWN: dict[str, str] = {k.name: k.shown for k in DECLARED if k.shown}


def shown_default(key: str) -> str:
    """The default of ``key`` as reST, for the docs' configuration table."""
    if key in _SHOWN:
        return _SHOWN[key]
    default = KEYS[key][0]
    if default is None:
        return "none"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, int):
        return str(default)
    return f"``{default}``"


@dataclass(frozen=True)
class Settings:
    """Parsed configuration, kept in the extension's state."""

    mongodb_uri: str = field(repr=False)
    algorithm: str
    token_expire_minutes: int
    refresh_token_expire_minutes: int
    white_list_token: bool
    username_min_length: int
    password_min_length: int
    reset_password_length: int
    require_password_change: bool
    bcrypt_rounds: int
    login_max_attempts: int
    login_account_max_attempts: int
    login_lockout_seconds: int
    login_ip_max_attempts: int
    metrics: bool
    issuer: Optional[str]
    audience: Optional[str]
    leeway_seconds: int
    refresh_reuse_grace_seconds: int
    last_used_interval_seconds: int
    token_cache_size: int
    mongodb_timeout_ms: int
    admin_roles: tuple[str, ...]
    session_cache: bool
    session_cache_max_lag_ms: int
    session_cache_size: int
    session_idle_minutes: int
    max_sessions_per_user: int
    token_location: tuple[str, ...]
    cookie_secure: bool
    cookie_samesite: str
    cookie_domain: Optional[str]
    refresh_cookie_path: str
    audit_retention_days: int
    personal_token_max_days: int
    webauthn_rp_id: Optional[str]
    webauthn_rp_name: str
    webauthn_origins: tuple[str, ...]
    mail_sender: Optional[Callable[..., Any]] = field(repr=False)
    reset_url: Optional[str]
    email_confirm_url: Optional[str]
    reset_token_minutes: int
    mfa_required_roles: tuple[str, ...]
    mfa_issuer: Optional[str]
    mfa_token_seconds: int
    factor_key: tuple[str, ...] = field(repr=False)
    keys: keys.KeyRing = field(repr=False)


def load(app: Flask) -> Settings:
    """Set the defaults in ``app.config``, parse and validate them."""
    environ = os.environ
    if "MONGODB_URI" not in app.config and environ.get("MONGODB_URI"):
        app.config["MONGODB_URI"] = environ["MONGODB_URI"]
    from_environ = set()
    for env_name, key in LEGACY_ENV.items():
        if key not in app.config and env_name in environ and env_name != "SECRET_KEY":
            app.config[key] = environ[env_name]
            from_environ.add(key)
    explicit = set(app.config)
    values = {}
    for key, (default, parse) in KEYS.items():
        app.config.setdefault(key, default)
        app.config[key] = values[key] = parse(key, app.config[key])
    if "AUTH_WHITE_LIST_TOKEN" in from_environ and not values["AUTH_WHITE_LIST_TOKEN"]:
        log.warning(
            "WHITE_LIST_TOKEN=%s in the environment turns sessions off: tokens are stateless and logout "
            "cannot revoke them (0.1.8 read any non-empty value as true). Set AUTH_WHITE_LIST_TOKEN in the "
            "app's config to choose, or remove WHITE_LIST_TOKEN to keep sessions on.",
            environ["WHITE_LIST_TOKEN"][:16],
        )

    for key in keys.MATERIAL_KEYS:
        app.config.setdefault(key, None)
    secret = app.config.get("AUTH_SECRET_KEY") or app.config.get("SECRET_KEY")
    secret = secret or environ.get("SECRET_KEY")
    keyring = keys.load(app.config, secret, lenient=app.testing or app.debug)
    secret = keyring.signing_key if keyring.algorithm in keys.HMAC_ALGORITHMS else ""
    if secret:
        app.config["AUTH_SECRET_KEY"] = secret

    attempts = values["AUTH_LOGIN_MAX_ATTEMPTS"]
    if values["AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS"] is None:
        values["AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS"] = app.config["AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS"] = attempts
    elif values["AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS"] < attempts:
        raise ConfigError("AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS must not be below AUTH_LOGIN_MAX_ATTEMPTS")

    if "AUTH_REFRESH_TOKEN_EXPIRE_MINUTES" not in explicit:
        # A session outlives its first access token (0.1.8 knew no refresh lifetime).
        refresh = max(values["AUTH_REFRESH_TOKEN_EXPIRE_MINUTES"], values["AUTH_TOKEN_EXPIRE_MINUTES"])
        values["AUTH_REFRESH_TOKEN_EXPIRE_MINUTES"] = app.config["AUTH_REFRESH_TOKEN_EXPIRE_MINUTES"] = refresh
    if values["AUTH_REFRESH_TOKEN_EXPIRE_MINUTES"] < values["AUTH_TOKEN_EXPIRE_MINUTES"]:
        raise ConfigError("AUTH_REFRESH_TOKEN_EXPIRE_MINUTES must not be shorter than AUTH_TOKEN_EXPIRE_MINUTES")

    idle, interval = values["AUTH_SESSION_IDLE_MINUTES"], values["AUTH_LAST_USED_INTERVAL_SECONDS"]
    if idle and idle * 60 < 2 * interval:
        raise ConfigError(
            "AUTH_SESSION_IDLE_MINUTES must be at least twice AUTH_LAST_USED_INTERVAL_SECONDS "
            f"({interval} s): the last use is written at most once per interval"
        )

    if not values["AUTH_COOKIE_SECURE"]:
        if not (app.testing or app.debug):
            raise ConfigError("AUTH_COOKIE_SECURE may be false only in testing or debug mode (cookies over plain HTTP)")
        if values["AUTH_COOKIE_SAMESITE"] == "None":
            raise ConfigError("AUTH_COOKIE_SAMESITE=None needs AUTH_COOKIE_SECURE (browsers refuse it otherwise)")

    values["AUTH_WEBAUTHN_RP_NAME"] = values["AUTH_WEBAUTHN_RP_NAME"] or app.name
    if values["AUTH_WEBAUTHN_RP_ID"]:
        values["AUTH_WEBAUTHN_ORIGINS"] = values["AUTH_WEBAUTHN_ORIGINS"] or (
            f"https://{values['AUTH_WEBAUTHN_RP_ID']}",
        )

    fields = {key.removeprefix("AUTH_").lower(): value for key, value in values.items()}
    return Settings(keys=keyring, **fields)

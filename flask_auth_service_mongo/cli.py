"""``flask auth_mongo ...``: manage roles, users and sessions."""

from __future__ import annotations

import contextlib
import json
from typing import Iterator, NoReturn

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from mongoengine.errors import NotUniqueError

from . import accounts, compat, events, mfa, personal_tokens, signin
from .clock import iso
from .database import MOCK_SCHEME, database_failure, unavailable_on_error
from .emails import normalize_email
from .errors import AuthError, PolicyError, ServiceUnavailable
from .models import Role, User, normalize_username
from .state import get_state

#: ``token-new``'s lifetime when ``--days`` is not given.
DEFAULT_TOKEN_DAYS = 30


def fail(reason: str) -> NoReturn:
    raise click.ClickException(reason)


@click.group("auth_mongo", cls=AppGroup)
@with_appcontext
def group() -> None:
    """Manage the roles, users and sessions of flask-auth-service-mongo."""
    if get_state().settings.mongodb_uri.startswith(MOCK_SCHEME) and not current_app.testing:
        fail(
            "MONGODB_URI is the in-memory backend (mongomock://), which lives and dies with this command: "
            "set MONGODB_URI to the MongoDB your app uses"
        )


@contextlib.contextmanager
def _command_errors() -> Iterator[None]:
    """The CLI's one translator: a refusal, a broken rule or a database
    failure ends the command with a one-line reason."""
    try:
        with unavailable_on_error():
            yield
    except ServiceUnavailable as error:
        fail(f"database error: {type(error.__cause__ and database_failure(error.__cause__)).__name__}")
    except PolicyError as error:
        fail(str(error))
    except AuthError as error:
        details = "; ".join(f"{field}: {reason}" for field, reason in (error.errors or {}).items())
        fail(f"{error.message}: {details}" if details else error.message)


@group.command("role-new")
@click.option("-n", "--name", required=True, help="Name of the role.")
@click.option("-p", "--permissions", default=None, help='JSON object, e.g. \'{"users": "write"}\'.')
def role_new(name: str, permissions: str | None) -> None:
    """Create a role."""
    try:
        parsed = json.loads(permissions) if permissions else {}
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        fail("--permissions must be a JSON object")
    name = name.strip()
    if not name:
        fail("--name must not be empty")
    with _command_errors():
        try:
            Role(name=name, permissions=parsed).save()
        except NotUniqueError:
            fail(f"role {name!r} already exists")
    click.echo(f"role {name!r} created")


@group.command("user-new")
@click.option("-r", "--role", "role_name", required=True, help="Name of an existing role.")
@click.option("-u", "--username", required=True, help="Login name (stored lower-case).")
@click.option("--password", default=None, help="Prompted for (hidden, twice) when omitted.")
@click.option("--email", default=None, help="E-mail address, for password reset links (stored lower-case).")
def user_new(role_name: str, username: str, password: str | None, email: str | None) -> None:
    """Create a user with a role."""
    with _command_errors():
        username = normalize_username(username, get_state().settings.username_min_length)
        if email is not None:
            normalize_email(email)  # before the prompt
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        accounts.create_user(None, username, password, role_name, email=email)
    click.echo(f"user {username!r} created with role {role_name!r}")


def _existing_user(username: str) -> User:
    user = User.find_by_username(username)
    if user is None:
        fail(f"user {username!r} does not exist")
    return user


@group.command("logout-user")
@click.option("-u", "--username", required=True)
def logout_user(username: str) -> None:
    """End every session of a user."""
    with _command_errors():
        user = _existing_user(username)
        ended = signin.logout_all(user.pk)
    click.echo(f"{ended} session(s) of {user.username!r} ended")


@group.command("token-new")
@click.option("-u", "--username", required=True, help="The token's user (a service account).")
@click.option("-n", "--name", required=True, help="What the token is for, e.g. 'nightly build'.")
@click.option(
    "-s", "--scope", "scopes", multiple=True, required=True, help="A scope the user's role grants; repeat for more."
)
@click.option("--days", type=int, default=DEFAULT_TOKEN_DAYS, show_default=True, help="Lifetime in days.")
def token_new(username: str, name: str, scopes: tuple[str, ...], days: int) -> None:
    """Create a personal access token and print it, this once."""
    with _command_errors():
        user = User.find_by_username(username)
        if user is None:
            fail(f"user {username!r} does not exist")
        created = personal_tokens.create(user.pk, name, list(scopes), days)
    click.echo(created.token)
    expires = iso(created.info.expires_at)
    click.echo(f"token {created.info.id} of {user.username!r}, expires {expires}: store it now, it is not shown again")


@group.command("mfa-reset")
@click.option("-u", "--username", required=True)
def mfa_reset(username: str) -> None:
    """Remove a user's second factors (a lost phone) and end its sessions."""
    with _command_errors():
        user = _existing_user(username)
        removed = mfa.reset(user)
    if not removed:
        click.echo(f"{user.username!r} had no second factor; its sessions ended")
    else:
        click.echo(f"second factors of {user.username!r} removed ({', '.join(removed)}); its sessions ended")


@group.command("clear-tokens")
@click.option("-f", "--forced", is_flag=True, help="End every session, not only the expired ones.")
def clear_tokens(forced: bool) -> None:
    """Remove expired sessions (MongoDB's TTL index also does, lazily)."""
    with _command_errors():
        removed = accounts.clear_sessions(forced=forced)
    click.echo(f"{removed} session(s) removed")


@group.command("check-compat")
@click.option("--fix", is_flag=True, help="Repair what can be repaired (created_at moves into user_meta).")
def check_compat(fix: bool) -> None:
    """Report what 0.1.8 could not read in the user and role documents."""
    with _command_errors():
        report = compat.check(fix=fix)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        fail("0.1.8 cannot read every user and role document" + ("" if fix else " (try --fix)"))
    click.echo("0.1.8 can read every user and role document")


@group.command("events")
@click.option("-u", "--username", default=None, help="Only this user's events.")
@click.option("--since", default=None, help="Only events at or after this ISO 8601 time (UTC unless it says).")
@click.option("--kind", default=None, help="Only events of this kind, e.g. login_failed.")
@click.option("--limit", default=events.DEFAULT_PAGE, show_default=True, help="At most this many events.")
def list_events(username: str | None, since: str | None, kind: str | None, limit: int) -> None:
    """Show the security events of the audit trail, newest first."""
    moment = events.parse_time(since) if since is not None else None
    if since is not None and moment is None:
        fail(f"--since must be an ISO 8601 time such as 2026-01-31T12:00:00Z, got {since!r}")
    if not 1 <= limit <= events.MAX_PAGE:
        fail(f"--limit must be between 1 and {events.MAX_PAGE}")
    with _command_errors():
        found = accounts.list_events(None, username, kind, moment, limit)
        names = events.usernames(found)
    for event in found:
        shown = events.public(event)
        who = names.get(event["user"], str(event["user"])) if event.get("user") else "-"
        fields = [shown["time"], shown["kind"], who]
        fields += [f"{name}={shown[name]}" for name in ("reason", "session_id", "ip") if shown[name]]
        fields += [f"{name}={value}" for name, value in shown["details"].items()]
        if shown["user_agent"]:
            fields.append(json.dumps(shown["user_agent"]))
        click.echo("  ".join(str(field) for field in fields))

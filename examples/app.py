"""The documented admin API: login, logout, a guarded view and the sessions,
and at ``/`` an account page for browsers (tokens in HttpOnly cookies).

Run it with ``flask --app examples.app run`` and open http://localhost:5000/. With no ``MONGODB_URI`` in the
environment it runs on the in-memory backend and seeds a demo admin whose
credentials it prints (``DEMO_ADMIN_PASSWORD`` chooses the password). That
database lives in one process: run in several (gunicorn workers), each warns
at start-up and says how to share a MongoDB instead. Any other config key
comes from ``FLASK_``-prefixed variables, e.g.
``FLASK_AUTH_SESSION_IDLE_MINUTES=30``.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from typing import Optional

from flask import Blueprint, Flask, current_app
from flask.sessions import SecureCookieSessionInterface
from flask_restx import Api, Resource

from flask_auth_service_mongo import (
    AuthService,
    MutationMiddleware,
    Roles,
    accounts,
    api_rest,
    auth,
    errors,
    metrics,
    schema,
)
from flask_auth_service_mongo.graphql_view import mount
from flask_auth_service_mongo.records import Actor

from . import demo

FRESH_SECONDS = 300
view_admin = Blueprint("view_admin", __name__)
# Swagger UI at /admin/docs: "Authorize" takes "Bearer <access token>";
# auth.required marks each guarded operation as needing it.
api = Api(
    view_admin,
    title="Admin API",
    doc="/docs",
    authorizations=api_rest.AUTHORIZATIONS,
    description="Start with POST /login (under sign-in): copy the access_token of its answer, press "
    "Authorize and paste Bearer followed by it. Every guarded operation then sends it. Signed in on the "
    "page at / as well? Its cookies travel too: unsafe operations then need the X-CSRF-Token header "
    "(403 csrf_failed), so sign out of the page or use the Bearer token only.",
)
docs = api_rest.document(api)
# Namespaces at the same prefix: Swagger UI groups the operations by them.
sign_in = api.namespace("sign-in", path="/", description="Log in and out, refresh, recover a password")
account = api.namespace("account", path="/", description="The signed-in user's sessions, tokens and factors")
admin = api.namespace("admin", path="/", description="Administration")


@sign_in.route("/login")
class ApiLogin(Resource):
    @docs.login
    def post(self):
        return api_rest.login(role="admin")


@sign_in.route("/logout")
class ApiLogout(Resource):
    @auth.required(role="admin", mfa_enrolment=True)
    def post(self):
        return api_rest.logout()


@sign_in.route("/refresh")
class ApiRefresh(Resource):
    @docs.refresh
    def post(self):
        return api_rest.refresh()


@account.route("/logout-all")
class ApiLogoutAll(Resource):
    @auth.required(role="admin")
    def post(self):
        return api_rest.logout_all()


@account.route("/sessions")
class ApiSessions(Resource):
    @auth.required(role="admin")
    def get(self):
        return api_rest.sessions()


@account.route("/sessions/<string:session_id>")
class ApiSession(Resource):
    @auth.required(role="admin")
    def delete(self, session_id):
        return api_rest.revoke_session(session_id)


@account.route("/events")
class ApiEvents(Resource):
    @docs.security_events
    @auth.required(role="admin")
    def get(self):
        return api_rest.security_events()


@account.route("/tokens")
class ApiTokens(Resource):
    @auth.required(role="admin")
    def get(self):
        return api_rest.tokens()

    @auth.required(role="admin")
    def post(self):
        return api_rest.create_token()


@account.route("/tokens/<string:token_id>")
class ApiToken(Resource):
    @auth.required(role="admin")
    def delete(self, token_id):
        return api_rest.revoke_token(token_id)


@admin.route("/users")
class ApiUsers(Resource):
    # For scripts: a personal access token with the scope read:users (or a
    # session whose role grants it) lists the usernames and their roles.
    @auth.required(role="admin", scope="read:users")
    def get(self):
        identity = auth.authenticate()
        users = accounts.list_users(Actor(identity.user_id, identity.role), None, None)
        return {"message": "ok", "data": [{"username": u.username, "role": u.role_name} for u in users]}, 200


@sign_in.route("/reauthenticate")
class ApiReauthenticate(Resource):
    @docs.reauthenticate
    @auth.required(role="admin")
    def post(self):
        return api_rest.reauthenticate()


@account.route("/passkeys")
class ApiPasskeys(Resource):
    @auth.required(role="admin")
    def get(self):
        return api_rest.passkeys()


@account.route("/passkeys/<string:passkey_id>")
class ApiPasskey(Resource):
    @auth.required(role="admin")
    def delete(self, passkey_id):
        return api_rest.delete_passkey(passkey_id)


@account.route("/passkeys/register/begin")
class ApiPasskeyRegisterBegin(Resource):
    @auth.required(role="admin")
    def post(self):
        return api_rest.passkey_register_begin()


@account.route("/passkeys/register/finish")
class ApiPasskeyRegisterFinish(Resource):
    @auth.required(role="admin")
    def post(self):
        return api_rest.passkey_register_finish()


@sign_in.route("/passkeys/login/begin")
class ApiPasskeyLoginBegin(Resource):
    def post(self):
        return api_rest.passkey_login_begin()


@sign_in.route("/passkeys/login/finish")
class ApiPasskeyLoginFinish(Resource):
    def post(self):
        return api_rest.passkey_login_finish(role="admin")


@sign_in.route("/forgot-password")
class ApiForgotPassword(Resource):
    @docs.forgot_password
    def post(self):
        return api_rest.forgot_password()


@sign_in.route("/reset-password")
class ApiResetPassword(Resource):
    @docs.reset_password
    def post(self):
        return api_rest.reset_password()


@account.route("/email")
class ApiEmail(Resource):
    @docs.change_email
    @auth.required(role="admin")
    def post(self):
        return api_rest.change_email()


@account.route("/confirm-email")
class ApiConfirmEmail(Resource):
    @docs.confirm_email
    def post(self):
        return api_rest.confirm_email()


# The second factor: enrolment and removal ask for a login (password and,
# once enrolled, code) within 5 minutes; the helpers check it themselves.
# mfa_enrolment=True: open to sessions that AUTH_MFA_REQUIRED_ROLES confines
# to enrolling (and to signing out).
@sign_in.route("/login/mfa")
class ApiLoginMfa(Resource):
    @docs.login_mfa
    def post(self):
        return api_rest.login_mfa(role="admin")


@account.route("/mfa")
class ApiMfa(Resource):
    @auth.required(role="admin", mfa_enrolment=True)
    def get(self):
        return api_rest.mfa_methods()


@account.route("/mfa/totp")
class ApiTotpBegin(Resource):
    @auth.required(role="admin", mfa_enrolment=True)
    def post(self):
        return api_rest.totp_begin()


@account.route("/mfa/totp/confirm")
class ApiTotpConfirm(Resource):
    @auth.required(role="admin", mfa_enrolment=True)
    def post(self):
        return api_rest.totp_confirm()


@account.route("/mfa/disable")
class ApiMfaDisable(Resource):
    @auth.required(role="admin", mfa_enrolment=True)
    def post(self):
        return api_rest.mfa_disable()


@account.route("/mfa/recovery-codes")
class ApiRecoveryCodes(Resource):
    @auth.required(role="admin", mfa_enrolment=True)
    def post(self):
        return api_rest.recovery_codes()


@account.route("/me")
class ApiMe(Resource):
    @auth.required(role="admin")
    def get(self):
        user = auth.current_user()
        return {"message": "ok", "data": {"username": user.username, "role": user.role_name}}, 200


# /admin/graphql: anyone may refresh, any user change their password; the
# account operations check AUTH_ADMIN_ROLES themselves, and resetting a
# password or deleting an account asks for a password checked within 5 minutes
# (log in again or POST /admin/reauthenticate).
mount(
    view_admin,
    schema.schema,
    middleware=[
        MutationMiddleware(
            [
                {"mutation": "refresh_token", "roles": [Roles.IS_AUTHENTICATED_ANONYMOUSLY]},
                {"mutation": "update_password", "roles": [Roles.IS_AUTHENTICATED_FULLY]},
                {"mutation": "reset_password", "roles": [Roles.IS_AUTHENTICATED_FULLY], "fresh": FRESH_SECONDS},
                {"mutation": "delete_user", "roles": [Roles.IS_AUTHENTICATED_FULLY], "fresh": FRESH_SECONDS},
            ]
        )
    ],
)


#: The page loads only its own script and style, and no one may frame it.
PAGE_POLICY = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"


def account_page():
    """The browser page (examples/static/): sign in, sessions, password."""
    response = current_app.send_static_file("index.html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


class NoFlaskSession(SecureCookieSessionInterface):
    """Nothing here uses Flask's own cookie session (our tokens have cookies
    of their own): no request opens or saves one, though SECRET_KEY is set."""

    def open_session(self, app, request):
        return None  # Flask then uses a null session, and never saves it


def create_app(config: Optional[dict] = None) -> Flask:
    app = Flask(__name__)
    app.session_interface = NoFlaskSession()
    in_memory = not (config or {}).get("MONGODB_URI") and not os.environ.get("MONGODB_URI")
    random_key = secrets.token_urlsafe(48) if in_memory else None
    app.config.update(
        MONGODB_URI=os.environ.get("MONGODB_URI") or "mongomock://localhost/flask_auth_demo",
        SECRET_KEY=os.environ.get("SECRET_KEY") or random_key,
    )
    # Browser page at /: tokens in cookies too. Secure cookies need HTTPS,
    # except on http://localhost, which browsers treat as secure; debug mode
    # (FLASK_DEBUG) also allows them over plain HTTP on any host.
    app.config["AUTH_TOKEN_LOCATION"] = "headers,cookies"
    if app.debug:
        app.config["AUTH_COOKIE_SECURE"] = False
    # Recovery by e-mail: the links open this page; mail goes to a local SMTP
    # server (python -m aiosmtpd -n -l localhost:8025 prints what it gets).
    app.config.update(
        AUTH_RESET_URL="http://localhost:5000/#reset={token}",
        AUTH_EMAIL_CONFIRM_URL="http://localhost:5000/#confirm-email={token}",
        MAIL_SERVER="localhost",
        MAIL_PORT=8025,
        MAIL_DEFAULT_SENDER="Admin console <no-reply@localhost>",
    )
    if config is None:
        # Passkeys for the page at http://localhost:5000 (make run); elsewhere
        # set FLASK_AUTH_WEBAUTHN_RP_ID and FLASK_AUTH_WEBAUTHN_ORIGINS.
        app.config["AUTH_WEBAUTHN_RP_ID"] = "localhost"
        app.config["AUTH_WEBAUTHN_ORIGINS"] = "http://localhost:5000"
        app.config.from_prefixed_env()  # FLASK_AUTH_SESSION_IDLE_MINUTES=30 ...
    # Prometheus metrics at /metrics, when prometheus_client is installed
    # (the [metrics] extra; see docs/production.rst).
    app.config["AUTH_METRICS"] = importlib.util.find_spec("prometheus_client") is not None
    app.config.update(config or {})
    AuthService(app)
    app.register_blueprint(view_admin, url_prefix="/admin")
    errors.json_errors(app, "/admin", api=api)  # unknown paths, 405s and OPTIONS under /admin: JSON too
    app.add_url_rule("/", "account_page", account_page)
    app.add_url_rule("/.well-known/jwks.json", "jwks", api_rest.jwks)
    if app.config["AUTH_METRICS"]:
        app.add_url_rule("/metrics", "metrics", metrics.exposition)
    if in_memory:
        demo.seed_admin(app)
        demo.watch_processes(app, random_key=app.config.get("AUTH_SECRET_KEY") == random_key)
    return app

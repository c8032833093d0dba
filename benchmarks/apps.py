"""The applications the benchmark compares, all on one database.

``ours`` is the documented setup (flask-restx login/logout/refresh, guarded
restx resource and plain views) plus a bare view, ``cached`` the same with
``AUTH_SESSION_CACHE`` on (both also with a scoped view, for sessions and
personal access tokens alike), ``metered`` with the metrics on too and
``lean`` without the audit trail; ``jwt`` is
flask-jwt-extended's stateless check; ``jwtdb`` is flask-jwt-extended with a
MongoDB blocklist and a user loader, the setup its documentation recommends
for revocation (both loaders on raw pymongo, its cheapest form); ``jwtredis``
is flask-jwt-extended with the Redis blocklist of its documentation (when a
Redis server is given).
"""

from __future__ import annotations

from typing import Optional

import mongoengine
from bson import ObjectId
from flask import Blueprint, Flask, jsonify
from flask_jwt_extended import JWTManager, create_access_token, jwt_required
from flask_restx import Api, Resource

from flask_auth_service_mongo import AuthService, api_rest, auth, personal_tokens
from flask_auth_service_mongo.models import Role, User
from flask_auth_service_mongo.passwords import hash_password

USERNAME = "bench"
PASSWORD = "bench password"
ROLE = "admin"
SCOPE = "read:bench"


def ok():
    return jsonify(message="ok")


def ours(uri: str, secret: str, bcrypt_rounds: int, session_cache: bool = False, name: str = "", **config) -> Flask:
    """Our extension as documented (``config`` on top), plus bare views as the baseline."""
    app = Flask(name or ("bench_cached" if session_cache else "bench_ours"))
    app.config.update(SECRET_KEY=secret, MONGODB_URI=uri, AUTH_BCRYPT_ROUNDS=bcrypt_rounds)
    app.config.update(AUTH_SESSION_CACHE=session_cache, **config)
    AuthService(app)
    blueprint = Blueprint("bench", __name__)
    api = Api(blueprint, doc=False)

    @api.route("/login")
    class Login(Resource):
        def post(self):
            return api_rest.login(role=ROLE)

    @api.route("/logout")
    class Logout(Resource):
        @auth.required(role=ROLE)
        def post(self):
            return api_rest.logout()

    @api.route("/refresh")
    class Refresh(Resource):
        def post(self):
            return api_rest.refresh()

    @api.route("/guarded")
    class Guarded(Resource):
        @auth.required(role=ROLE)
        def get(self):
            return {"message": "ok"}

    @api.route("/bare")
    class Bare(Resource):
        def get(self):
            return {"message": "ok"}

    app.register_blueprint(blueprint, url_prefix="/restx")
    app.add_url_rule("/bare", "bare", ok)
    app.add_url_rule("/guarded", "guarded", auth.required(role=ROLE)(ok))

    app.add_url_rule("/scoped", "scoped", auth.required(role=ROLE, scope=SCOPE)(ok))

    @app.get("/guarded-user")
    @auth.required(role=ROLE)
    def guarded_user():
        return jsonify(message="ok", username=auth.current_user().username)

    return app


def jwt_stateless(secret: str) -> Flask:
    app = Flask("bench_jwt")
    app.config.update(JWT_SECRET_KEY=secret)
    JWTManager(app)
    app.add_url_rule("/guarded", "guarded", jwt_required()(ok))
    return app


def jwt_blocklist(secret: str) -> Flask:
    """flask-jwt-extended with a blocklist collection and a user loader."""
    app = Flask("bench_jwtdb")
    app.config.update(JWT_SECRET_KEY=secret)
    jwt = JWTManager(app)
    db = mongoengine.get_db()
    db.token_blocklist.create_index("jti", unique=True)

    @jwt.token_in_blocklist_loader
    def revoked(header: dict, payload: dict) -> bool:
        return db.token_blocklist.find_one({"jti": payload["jti"]}, {"_id": 1}) is not None

    @jwt.user_lookup_loader
    def load_user(header: dict, payload: dict):
        return db.user.find_one({"_id": ObjectId(payload["sub"]), "active": {"$ne": False}})

    app.add_url_rule("/guarded", "guarded", jwt_required()(ok))
    return app


def jwt_redis(secret: str, redis_url: str) -> Flask:
    """flask-jwt-extended with the Redis blocklist of its documentation."""
    import redis

    app = Flask("bench_jwtredis")
    app.config.update(JWT_SECRET_KEY=secret)
    jwt = JWTManager(app)
    blocklist = redis.Redis.from_url(redis_url)

    @jwt.token_in_blocklist_loader
    def revoked(header: dict, payload: dict) -> bool:
        return blocklist.get(payload["jti"]) is not None

    app.add_url_rule("/guarded", "guarded", jwt_required()(ok))
    return app


def seed(bcrypt_rounds: int) -> str:
    """Create the benchmark user and role; the user's id."""
    role = Role.objects(name=ROLE).first() or Role(name=ROLE, permissions={"scopes": [SCOPE]}).save()
    user = User(username=USERNAME, password=hash_password(PASSWORD, bcrypt_rounds), role=role).save()
    return str(user.pk)


def personal_token(app: Flask, user_id: str) -> str:
    """A personal access token of the benchmark user with ``SCOPE``."""
    with app.app_context():
        return personal_tokens.create(ObjectId(user_id), "bench", [SCOPE], 1).token


def jwt_token(app: Flask, user_id: str) -> str:
    with app.app_context():
        return create_access_token(identity=user_id)


def mounted(
    uri: str, secret: str, bcrypt_rounds: int, redis_url: Optional[str] = None, cache_lag_ms: int = 500
) -> dict[str, Flask]:
    """Every benchmark app by URL prefix ("" is ours), built in the right order:
    ours connects the database the blocklist app then uses. ``cache_lag_ms``:
    the cached app's ``AUTH_SESSION_CACHE_MAX_LAG_MS``."""
    found = {
        "": ours(uri, secret, bcrypt_rounds),
        "/cached": ours(uri, secret, bcrypt_rounds, session_cache=True, AUTH_SESSION_CACHE_MAX_LAG_MS=cache_lag_ms),
        # The audit trail is on by default, the metrics off: each way around.
        "/metered": ours(uri, secret, bcrypt_rounds, name="bench_metered", AUTH_METRICS=True),
        "/lean": ours(uri, secret, bcrypt_rounds, name="bench_lean", AUTH_AUDIT_RETENTION_DAYS=0),
        "/jwt": jwt_stateless(secret),
        "/jwtdb": jwt_blocklist(secret),
    }
    if redis_url:
        found["/jwtredis"] = jwt_redis(secret, redis_url)
    return found

"""auth.required: every refusal of the HTTP table, on restx and plain views."""

import datetime

import jwt
import pytest
from conftest import PASSWORD, SECRET, bearer
from freezegun import freeze_time

from flask_auth_service_mongo import auth
from flask_auth_service_mongo.models import Role, User

GUARDED = ["/admin/me", "/plain/me"]


@pytest.fixture
def token(make_user, login):
    make_user()
    return login()["token"]


@pytest.mark.parametrize("path", GUARDED)
@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b", "bearer", "x" * 10000],
)
def test_missing_or_odd_authorization_is_unauthorized(client, path, header):
    headers = {} if header is None else {"Authorization": header}
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.json == {"message": "unauthorized"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", GUARDED)
@pytest.mark.parametrize("bad", ["abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"])
def test_malformed_token_is_invalid_token(client, path, bad):
    response = client.get(path, headers=bearer(bad))
    assert response.status_code == 401
    assert response.json == {"message": "invalid_token"}
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("path", GUARDED)
def test_bad_signature_is_invalid_token(client, token, path):
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    forged = jwt.encode(claims, "another key of enough length, 32+ bytes", algorithm="HS256")
    response = client.get(path, headers=bearer(forged))
    assert (response.status_code, response.json) == (401, {"message": "invalid_token"})


def test_unsigned_token_is_invalid_token(client, token):
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    unsigned = jwt.encode(claims, None, algorithm="none")
    response = client.get("/admin/me", headers=bearer(unsigned))
    assert (response.status_code, response.json) == (401, {"message": "invalid_token"})


def test_refresh_token_is_not_an_access_token(client, make_user, login):
    make_user()
    refresh = login()["refresh_token"]
    response = client.get("/admin/me", headers=bearer(refresh))
    assert (response.status_code, response.json) == (401, {"message": "invalid_token"})


@pytest.mark.parametrize("missing", ["exp", "sub", "sid", "type", "jti", "iat"])
def test_token_missing_a_claim_is_invalid(client, token, missing):
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    del claims[missing]
    response = client.get("/admin/me", headers=bearer(jwt.encode(claims, SECRET, algorithm="HS256")))
    assert (response.status_code, response.json) == (401, {"message": "invalid_token"})


@pytest.mark.parametrize("path", GUARDED)
def test_expired_access_token_is_signature_expired(client, token, path):
    assert client.get(path, headers=bearer(token)).status_code == 200
    with freeze_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=61)):
        response = client.get(path, headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "signature_expired"})
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("path", GUARDED)
def test_role_not_allowed_is_forbidden(client, make_user, login, path):
    make_user(username="viewer", role="viewer")
    token = login(username="viewer", path="/plain/login")["token"]
    response = client.get(path, headers=bearer(token))
    assert (response.status_code, response.json) == (403, {"message": "forbidden"})
    assert client.get("/plain/any", headers=bearer(token)).status_code == 200


def test_deleted_user_is_unauthorized_at_once(client, token):
    User.objects.get(username="alice").delete()
    response = client.get("/admin/me", headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})


def test_user_disabled_through_the_model_is_unauthorized_at_once(client, token):
    user = User.objects.get(username="alice")
    user.active = False
    user.save()
    response = client.get("/admin/me", headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})


def test_new_role_through_the_model_takes_effect_on_the_next_request(client, token):
    user = User.objects.get(username="alice")
    user.role = Role(name="viewer").save()
    user.save()
    assert client.get("/admin/me", headers=bearer(token)).status_code == 403
    user.role = Role.objects.get(name="admin")
    user.save()
    assert client.get("/admin/me", headers=bearer(token)).status_code == 200


def test_renamed_role_takes_effect_on_the_next_request(client, token):
    role = Role.objects.get(name="admin")
    role.name = "superuser"
    role.save()
    assert client.get("/admin/me", headers=bearer(token)).status_code == 403


def test_new_hash_through_the_model_ends_the_sessions(client, token):
    user = User.objects.get(username="alice")
    user.password = "$2b$04$" + "x" * 53
    user.save()
    assert client.get("/admin/me", headers=bearer(token)).status_code == 401


def test_password_change_required_refuses_until_changed(client, make_user, login):
    make_user(change_password=True)
    token = login()["token"]
    response = client.get("/plain/fresh", headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "password_change_required"})
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/plain/any", headers=bearer(token)).status_code == 200
    user = User.objects.get(username="alice")
    user.change_password = False
    user.save()
    assert client.get("/plain/fresh", headers=bearer(token)).status_code == 200


def test_require_password_change_default_comes_from_config(make_app, make_user):
    app = make_app(AUTH_REQUIRE_PASSWORD_CHANGE=True)
    make_user(change_password=True)
    client = app.test_client()
    token = client.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]["token"]
    assert client.get("/admin/me", headers=bearer(token)).json == {"message": "password_change_required"}


def test_decorator_keeps_the_view_name(app):
    @auth.required(role="admin")
    def my_view():
        return "x"

    assert my_view.__name__ == "my_view"
    assert app.view_functions["plain_me"].__name__ == "plain_me"


def test_current_user_is_none_outside_a_guarded_request(app):
    with app.test_request_context("/"):
        assert auth.current_user() is None


@pytest.mark.parametrize(
    "flags", [{"TESTING": False}, {"TESTING": False, "PROPAGATE_EXCEPTIONS": False}, {"PROPAGATE_EXCEPTIONS": True}]
)
def test_answers_hold_whatever_the_testing_flags(make_app, make_user, flags):
    app = make_app(**flags)
    client = app.test_client()
    for path in GUARDED:
        assert client.get(path).json == {"message": "unauthorized"}
        assert client.get(path, headers=bearer("a.b.c")).json == {"message": "invalid_token"}


def test_an_app_handler_for_auth_error_overrides_the_answer(make_app):
    from flask_auth_service_mongo.errors import AuthError

    app = make_app()

    @app.errorhandler(AuthError)
    def custom(error):
        return {"error": error.message, "custom": True}, error.status

    client = app.test_client()
    for path in GUARDED:
        response = client.get(path)
        assert (response.status_code, response.json) == (401, {"error": "unauthorized", "custom": True})
    response = client.post("/admin/login", json={"username": "nobody", "password": "whatever1"})
    assert (response.status_code, response.json) == (400, {"error": "bad_credentials", "custom": True})


def test_a_user_deleted_around_the_models_is_refused_on_the_next_request(client, token):
    User._get_collection().delete_one({"username": "alice"})
    response = client.get("/admin/me", headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})


@pytest.fixture
def user_app(make_app):
    """Views that read, change and save the request's current user."""
    app = make_app()

    @app.get("/user/rename/<name>")
    @auth.required()
    def rename(name):
        user = auth.current_user()
        user.username = name  # not saved
        return {"username": user.username, "role": user.role.name, "same": auth.current_user() is user}

    @app.get("/user/save-flag")
    @auth.required()
    def save_flag():
        user = auth.current_user()
        user.change_password = True
        user.save()
        return {"changed": True}

    @app.get("/user/document")
    @auth.required()
    def document():
        user = auth.current_user()
        return {"stored": {k: str(v) for k, v in user.to_mongo().items()}, "permissions": user.role.permissions}

    return app


def test_each_request_gets_its_own_current_user(user_app, make_user):
    make_user()
    client = user_app.test_client()
    token = client.post("/plain/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    first = client.get("/user/rename/mallory", headers=bearer(token))
    assert first.json == {"username": "mallory", "role": "admin", "same": True}
    # The unsaved change stayed with that request: the next one reads alice.
    assert client.get("/plain/me", headers=bearer(token)).json["username"] == "alice"
    assert User.objects.get(username="alice").change_password is False
    assert client.get("/user/save-flag", headers=bearer(token)).json == {"changed": True}
    assert User.objects.get(username="alice").change_password is True


def test_the_current_user_keeps_fields_written_around_the_models(user_app, make_user):
    user = make_user()
    Role.objects(name="admin").update(set__permissions={"scopes": ["read:x"]})
    User._get_collection().update_one({"_id": user.pk}, {"$set": {"nickname": "Al", "active": 1}})
    client = user_app.test_client()
    token = client.post("/plain/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    answer = client.get("/user/document", headers=bearer(token)).json
    assert answer["stored"]["username"] == "alice"
    assert answer["stored"]["active"] == "True"
    assert answer["permissions"] == {"scopes": ["read:x"]}


def session_record_of(stored):
    """The session record the store makes of a read of a session of ``stored`` (a user document)."""
    from datetime import datetime, timedelta

    from flask_auth_service_mongo.store import SharedValues

    found = {"_id": "a-session", "user": stored["_id"], "expires_at": datetime.now() + timedelta(hours=1)}
    return SharedValues().record(found, dict(stored), None)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"nickname": "Al"},
        {"active": 1},
        {"role": None},
        {"active": None, "change_password": None},
        {"_id": "5f" * 12},
    ],
    ids=["0.1.8", "extra field", "int flag", "no role", "no flags", "string id"],
)
def test_the_user_current_user_builds_is_what_mongoengine_builds(extra):
    """``User.from_record`` skips mongoengine's constructor for 0.1.8's
    documents: the document state must be the one ``_from_son`` makes
    (checked at the lowest mongoengine version too, by CI)."""
    from bson import DBRef, ObjectId

    stored = {"_id": ObjectId(), "username": "alice", "password": "x" * 60, "active": True, "change_password": False}
    stored = {**stored, "role": DBRef("role", ObjectId()), **extra}
    stored = {key: value for key, value in stored.items() if value is not None}  # None: a field not stored
    built, expected = User.from_record(session_record_of(stored)), User._from_son(dict(stored))
    for state in ("_data", "_changed_fields", "_created", "_initialised", "_dynamic_fields"):
        assert getattr(built, state) == getattr(expected, state), state
    assert built.to_mongo() == expected.to_mongo()
    built.username = expected.username = "bob"
    assert built._get_changed_fields() == expected._get_changed_fields() == ["username"]


def test_the_users_current_user_builds_send_the_init_signals_and_share_nothing():
    from bson import DBRef, ObjectId
    from mongoengine import signals

    stored = {"_id": ObjectId(), "username": "alice", "password": "x" * 60, "role": DBRef("role", ObjectId())}
    sent = []

    def before(sender, document, values):
        sent.append(("pre_init", sender, document._initialised, dict(values)))
        values["username"] = "carol"  # a receiver may change the values, as with the constructor

    def after(sender, document):
        sent.append(("post_init", sender, document._initialised, document.username))

    signals.pre_init.connect(before, sender=User)
    signals.post_init.connect(after, sender=User)
    try:
        one = User.from_record(session_record_of(stored))
    finally:
        signals.pre_init.disconnect(before, sender=User)
        signals.post_init.disconnect(after, sender=User)
    data = {"id": stored["_id"], "username": "alice", "password": "x" * 60, "active": True}
    data.update(change_password=False, role=stored["role"])
    assert sent == [("pre_init", User, False, data), ("post_init", User, True, "carol")]
    other = User.from_record(session_record_of(stored))
    other.username, other.active = "dave", False
    assert (one.username, one.active, one._get_changed_fields()) == ("carol", True, [])
    with pytest.raises(TypeError):
        other._dynamic_fields["nickname"] = "Al"  # the empty dynamic fields they share stay empty
    assert len(one._dynamic_fields) == 0


def test_one_guarded_view_follows_each_apps_own_settings(make_app, make_user):
    """The example's views are defined once, for every app built from it:
    each app's AUTH_REQUIRE_PASSWORD_CHANGE applies to its own requests."""
    strict, lax = make_app(AUTH_REQUIRE_PASSWORD_CHANGE=True), make_app(AUTH_REQUIRE_PASSWORD_CHANGE=False)
    make_user(change_password=True)
    credentials = {"username": "alice", "password": PASSWORD}
    for _ in range(2):  # interleaved, after each app has resolved its policies once
        for app, expected in ((strict, 401), (lax, 200)):
            client = app.test_client()
            token = client.post("/plain/login", json=credentials).json["data"]["token"]
            answer = client.get("/admin/me", headers=bearer(token))
            assert answer.status_code == expected, answer.json
            if expected == 401:
                assert answer.json == {"message": "password_change_required"}


def test_an_identity_is_immutable_and_its_repr_shows_no_record_user_or_claims():
    from bson import ObjectId

    from flask_auth_service_mongo.auth import Identity

    identity = Identity(ObjectId(), "sid", "admin", False, claims={"jti": "secret-ish"}, user="the user")
    with pytest.raises(AttributeError):
        identity.role = "root"
    shown = repr(identity)
    assert "role='admin'" in shown and "scopes=frozenset()" in shown
    assert "jti" not in shown and "the user" not in shown and "record" not in shown

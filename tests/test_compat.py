"""Databases written by 0.1.8 keep working as they are."""

import datetime
import logging
import uuid

import bcrypt
import jwt
import mongoengine
import pytest
from bson import DBRef, ObjectId
from conftest import PASSWORD, SECRET, bearer, graphql

from flask_auth_service_mongo.errors import ConfigError
from flask_auth_service_mongo.models import Role, User
from flask_auth_service_mongo.store import password_stamp


def insert_legacy_admin(username="legacy", password="old-password", active=True, rounds=12):
    """Documents shaped exactly as 0.1.8 wrote them."""
    db = mongoengine.get_db()
    role_id = db.role.insert_one({"name": "admin", "permissions": {"users": "write"}}).inserted_id
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()
    user_id = db.user.insert_one(
        {
            "username": username,
            "password": hashed,
            "active": active,
            "change_password": False,
            "role": DBRef("role", role_id),
        }
    ).inserted_id
    db.whitelist_token.insert_one({"uuid_access": "x", "token": "old", "created_at": None})
    return user_id, hashed


def test_a_0_1_8_user_logs_in_with_the_existing_password(client):
    insert_legacy_admin()
    response = client.post("/admin/login", json={"username": "legacy", "password": "old-password"})
    assert response.status_code == 200
    token = response.json["data"]["token"]
    me = client.get("/admin/me", headers=bearer(token))
    assert me.json == {"message": "ok", "data": {"username": "legacy", "role": "admin"}}


def test_the_legacy_documents_are_read_as_they_are(app):
    user_id, hashed = insert_legacy_admin(rounds=4)
    user = User.objects.get(pk=user_id)
    assert user.password == hashed
    assert user.role.name == "admin"
    assert user.role.permissions == {"users": "write"}


def test_a_0_1_8_inactive_user_is_refused(client):
    insert_legacy_admin(active=False, rounds=4)
    response = client.post("/admin/login", json={"username": "legacy", "password": "old-password"})
    assert response.json == {"message": "bad_credentials"}


def test_saving_keeps_the_role_a_dbref_and_new_fields_are_additive(app):
    user_id, _ = insert_legacy_admin(rounds=4)
    user = User.objects.get(pk=user_id)
    user.change_password = True
    user.save()
    raw = mongoengine.get_db().user.find_one({"_id": user_id})
    assert isinstance(raw["role"], DBRef) and raw["role"].collection == "role"
    assert isinstance(raw["role"].id, ObjectId)
    assert raw["change_password"] is True


def test_a_weaker_legacy_hash_is_upgraded_at_login(make_app):
    app = make_app(AUTH_BCRYPT_ROUNDS=5)
    user_id, old_hash = insert_legacy_admin(rounds=4)
    client = app.test_client()
    first = client.post("/admin/login", json={"username": "legacy", "password": "old-password"})
    assert first.status_code == 200
    new_hash = mongoengine.get_db().user.find_one({"_id": user_id})["password"]
    assert new_hash != old_hash and new_hash.startswith("$2b$05$")
    assert client.get("/admin/me", headers=bearer(first.json["data"]["token"])).status_code == 200
    again = client.post("/admin/login", json={"username": "legacy", "password": "old-password"})
    assert again.status_code == 200


def test_a_hash_upgraded_at_login_keeps_the_sessions_opened_under_the_old_one(make_app):
    weaker = make_app()
    user_id, old_hash = insert_legacy_admin(rounds=4)
    before = weaker.test_client().post("/admin/login", json={"username": "legacy", "password": "old-password"})
    assert before.status_code == 200
    client = make_app(AUTH_BCRYPT_ROUNDS=5).test_client()
    assert client.post("/admin/login", json={"username": "legacy", "password": "old-password"}).status_code == 200
    assert mongoengine.get_db().user.find_one({"_id": user_id})["password"] != old_hash
    assert client.get("/admin/me", headers=bearer(before.json["data"]["token"])).status_code == 200
    refreshed = client.post("/admin/refresh", json={"refresh_token": before.json["data"]["refresh_token"]})
    assert refreshed.status_code == 200
    current = password_stamp(mongoengine.get_db().user.find_one({"_id": user_id})["password"])
    assert all(current in doc["password_stamps"] for doc in mongoengine.get_db().session.find())


def test_a_user_whose_role_was_deleted_logs_in_without_a_role(client):
    user_id, _ = insert_legacy_admin(rounds=4)
    mongoengine.get_db().role.delete_many({})
    refused = client.post("/admin/login", json={"username": "legacy", "password": "old-password"})
    assert refused.json == {"message": "bad_credentials"}
    response = client.post("/plain/login", json={"username": "legacy", "password": "old-password"})
    assert response.status_code == 200
    assert response.json["data"]["role"] is None
    assert client.get("/admin/me", headers=bearer(response.json["data"]["token"])).json == {"message": "forbidden"}


# --- The way back: what this version writes, 0.1.8 can read ------------------

#: 0.1.8's strict models declare these fields and fail on any other.
USER_FIELDS = {"_id", "username", "password", "active", "change_password", "role"}
ROLE_FIELDS = {"_id", "name", "permissions"}
CREATE = """mutation($input: CreateUserInput!) { create_user(input: $input) { user { id created_at } } }"""
UPDATE = "mutation($input: UpdateUserInput!) { update_user(input: $input) { user { id } } }"
DELETE = "mutation($id: ID!) { delete_user(input: {id: $id}) { ok } }"
RESET = "mutation($id: ID!) { reset_password(input: {id: $id}) { password } }"
UPDATE_PASSWORD = """mutation($current: String!, $new: String!) {
  update_password(input: {current_password: $current, new_password: $new, password_confirmed: $new}) { ok }
}"""


def assert_only_legacy_fields():
    db = mongoengine.get_db()
    users, roles = list(db.user.find()), list(db.role.find())
    assert users and roles
    for user in users:
        assert set(user) == USER_FIELDS, user
        assert isinstance(user["role"], DBRef) and user["role"].collection == "role"
    for role in roles:
        assert set(role) <= ROLE_FIELDS and "name" in role, role


def cli(app, *args, input=None):
    result = app.test_cli_runner().invoke(args=["auth_mongo", *args], input=input)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_write_path_keeps_user_and_role_documents_as_0_1_8_wrote_them(make_app):
    app = make_app(AUTH_BCRYPT_ROUNDS=5)
    client = app.test_client()
    insert_legacy_admin(rounds=4)  # a 0.1.8 admin: its hash is upgraded at login
    cli(app, "role-new", "-n", "staff", "-p", '{"users": "read"}')
    cli(app, "role-new", "-n", "viewer")
    cli(app, "user-new", "-r", "staff", "-u", "Dave", "--password", "dave's password")
    cli(app, "user-new", "-r", "staff", "-u", "erin", input="erin's password\nerin's password\n")
    token = client.post("/admin/login", json={"username": "legacy", "password": "old-password"}).json["data"]["token"]
    assert mongoengine.get_db().user.find_one({"username": "legacy"})["password"].startswith("$2b$05$")

    new_user = {"username": "carol", "password": "carol's secret", "password_confirmed": "carol's secret"}
    carol = graphql(client, CREATE, token, {"input": {**new_user, "role": "staff"}}).json["data"]["create_user"]
    carol_id = carol["user"]["id"]
    for change in ({"role": "viewer"}, {"change_password": True}, {"active": False}, {"active": True}):
        assert graphql(client, UPDATE, token, {"input": {"id": carol_id, **change}}).status_code == 200
    carol_password = graphql(client, RESET, token, {"id": carol_id}).json["data"]["reset_password"]["password"]
    carol_token = client.post("/plain/login", json={"username": "carol", "password": carol_password}).json["data"]
    changed = graphql(client, UPDATE_PASSWORD, carol_token["token"], {"current": carol_password, "new": "c" * 12})
    assert changed.json["data"] == {"update_password": {"ok": True}}
    dave = User.objects.get(username="dave")
    assert graphql(client, DELETE, token, {"id": str(dave.pk)}).json["data"] == {"delete_user": {"ok": True}}

    erin = User.objects.get(username="erin")
    erin.change_password = True
    erin.save()
    erin.active = False
    erin.save()
    frank = User(username="frank", password=erin.password, role=Role.objects.get(name="viewer")).save()
    frank.role = Role.objects.get(name="staff")
    frank.save()
    viewer = Role.objects.get(name="viewer")
    viewer.name = "watcher"
    viewer.permissions = {"reports": "read"}
    viewer.save()
    Role(name="empty").save()
    assert_only_legacy_fields()


def test_saving_a_0_1_8_user_through_the_model_adds_no_field(app):
    user_id, _ = insert_legacy_admin(rounds=4)
    user = User.objects.get(pk=user_id)
    user.role = Role(name="other").save()
    user.save()
    assert set(mongoengine.get_db().user.find_one({"_id": user_id})) == USER_FIELDS


def test_created_at_of_graphql_comes_from_our_own_collection(client, pair):
    alice = User.objects.get(username="alice")
    assert mongoengine.get_db().user_meta.find_one({"_id": alice.pk})["created_at"] is not None
    me = graphql(client, "{ me { created_at } }", pair["token"]).json["data"]["me"]
    sessions = client.get("/admin/sessions", headers=bearer(pair["token"])).json["data"]
    assert me["created_at"].endswith("Z") and sessions[0]["created_at"].endswith("Z")
    assert len(me["created_at"]) == len(sessions[0]["created_at"])  # one format across REST and GraphQL
    assert me["created_at"] <= sessions[0]["created_at"]


def test_a_0_1_8_user_was_created_when_its_object_id_was(client):
    user_id, _ = insert_legacy_admin(rounds=4)
    token = client.post("/admin/login", json={"username": "legacy", "password": "old-password"}).json["data"]["token"]
    users = graphql(client, "{ users { username created_at } }", token).json["data"]["users"]
    expected = user_id.generation_time.strftime("%Y-%m-%dT%H:%M:%S")
    assert users == [{"username": "legacy", "created_at": expected + "Z"}]


def test_deleting_a_user_deletes_what_we_know_about_it(app, alice):
    alice.delete()
    assert mongoengine.get_db().user_meta.count_documents({}) == 0


# --- check-compat ---------------------------------------------------------------


def check_compat(app, *args):
    return app.test_cli_runner().invoke(args=["auth_mongo", "check-compat", *args])


def test_check_compat_passes_on_what_this_version_wrote(app, alice):
    result = check_compat(app)
    assert result.exit_code == 0, result.output
    assert "0.1.8 can read every user and role document" in result.output


def test_check_compat_reports_created_at_and_fix_moves_it_into_user_meta(app, client):
    user_id, _ = insert_legacy_admin(rounds=4)
    created = datetime.datetime(2025, 3, 4, 5, 6, 7)
    mongoengine.get_db().user.update_one({"_id": user_id}, {"$set": {"created_at": created}})
    found = check_compat(app)
    assert found.exit_code != 0
    assert "1 user document(s) with field 'created_at'" in found.output
    assert mongoengine.get_db().user.find_one({"_id": user_id})["created_at"] == created  # reported, untouched

    fixed = check_compat(app, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "fixed: field 'created_at' of 1 user document(s)" in fixed.output
    assert set(mongoengine.get_db().user.find_one({"_id": user_id})) == USER_FIELDS
    token = client.post("/admin/login", json={"username": "legacy", "password": "old-password"}).json["data"]["token"]
    me = graphql(client, "{ me { created_at } }", token).json["data"]["me"]
    assert me == {"created_at": "2025-03-04T05:06:07Z"}
    assert check_compat(app).exit_code == 0


def test_check_compat_fix_keeps_a_creation_time_already_known(app, alice):
    known = mongoengine.get_db().user_meta.find_one({"_id": alice.pk})["created_at"]
    mongoengine.get_db().user.update_one({"_id": alice.pk}, {"$set": {"created_at": datetime.datetime(2000, 1, 1)}})
    assert check_compat(app, "--fix").exit_code == 0
    assert mongoengine.get_db().user_meta.find_one({"_id": alice.pk})["created_at"] == known


def test_check_compat_leaves_unknown_fields_to_a_person_and_fails(app, alice):
    db = mongoengine.get_db()
    db.user.update_one({"_id": alice.pk}, {"$set": {"nickname": "al"}})
    db.role.update_many({}, {"$set": {"_cls": "Role"}})
    result = check_compat(app, "--fix")
    assert result.exit_code != 0
    assert "fixed: field '_cls' of 1 role document(s)" in result.output
    assert "1 user document(s) with field 'nickname'" in result.output and "by hand" in result.output
    assert db.user.find_one({"_id": alice.pk})["nickname"] == "al"
    assert "_cls" not in db.role.find_one()


# --- 0.1.8's whitelist tokens go with every session that ends -------------------


def insert_legacy_tokens(user_id, count=2):
    """Whitelist tokens as 0.1.8's WhitelistToken model stored them."""
    db = mongoengine.get_db()
    for _ in range(count):
        db.whitelist_token.insert_one(
            {
                "uuid_access": uuid.uuid4().hex,
                "uuid_refresh": uuid.uuid4().hex,
                "user": DBRef("user", user_id),
                "created_at": datetime.datetime(2024, 1, 1),
            }
        )


def legacy_tokens_of(user_id) -> int:
    return mongoengine.get_db().whitelist_token.count_documents({"user": DBRef("user", user_id)})


def logout(client, pair, admin):
    return client.post("/admin/logout", headers=bearer(pair["token"]))


def logout_everywhere(client, pair, admin):
    return client.post("/admin/logout-all", headers=bearer(pair["token"]))


def revoke_one(client, pair, admin):
    other = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    session_id = jwt.decode(other["token"], SECRET, algorithms=["HS256"])["sid"]
    return client.delete(f"/admin/sessions/{session_id}", headers=bearer(pair["token"]))


def change_password(client, pair, admin):
    return graphql(client, UPDATE_PASSWORD, pair["token"], {"current": PASSWORD, "new": "a new password"})


def admin_reset(client, pair, admin):
    return graphql(client, RESET, admin, {"id": str(User.objects.get(username="alice").pk)})


def deactivation(client, pair, admin):
    user_id = str(User.objects.get(username="alice").pk)
    return graphql(client, UPDATE, admin, {"input": {"id": user_id, "active": False}})


def deletion(client, pair, admin):
    return graphql(client, DELETE, admin, {"id": str(User.objects.get(username="alice").pk)})


def refresh_reuse(client, pair, admin):
    assert client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 200
    return client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]})


def model_deactivation(client, pair, admin):
    user = User.objects.get(username="alice")
    user.active = False
    user.save()


def cli_logout_user(client, pair, admin):
    result = client.application.test_cli_runner().invoke(args=["auth_mongo", "logout-user", "-u", "alice"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "end_sessions",
    [
        logout,
        logout_everywhere,
        revoke_one,
        change_password,
        admin_reset,
        deactivation,
        deletion,
        refresh_reuse,
        model_deactivation,
        cli_logout_user,
    ],
)
def test_the_0_1_8_whitelist_tokens_of_a_user_go_with_every_session_ending_path(make_app, make_user, end_sessions):
    # bob outranks alice, so he may reset, disable and delete her.
    client = make_app(AUTH_ADMIN_ROLES="owner,admin").test_client()
    alice = make_user()
    bob = make_user("bob", role="owner")

    def login(username="alice", path="/admin/login"):
        answer = client.post(path, json={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.json
        return answer.json["data"]

    admin = login("bob", "/plain/login")["token"]
    pair = login()
    insert_legacy_tokens(alice.pk)
    insert_legacy_tokens(bob.pk)
    end_sessions(client, pair, admin)
    assert legacy_tokens_of(alice.pk) == 0
    assert legacy_tokens_of(bob.pk) == 2


def test_a_new_database_gets_no_whitelist_token_collection(app, alice):
    assert "whitelist_token" not in mongoengine.get_db().list_collection_names()


# --- Configuration carried over from 0.1.8 -----------------------------------


def test_white_list_token_false_in_the_environment_warns_at_start_up(make_app, monkeypatch, caplog):
    monkeypatch.setenv("WHITE_LIST_TOKEN", "false")
    with caplog.at_level(logging.WARNING, logger="flask_auth_service_mongo"):
        app = make_app()
    assert app.config["AUTH_WHITE_LIST_TOKEN"] is False
    [warning] = [r.getMessage() for r in caplog.records if "WHITE_LIST_TOKEN" in r.getMessage()]
    assert "WHITE_LIST_TOKEN=false" in warning and "AUTH_WHITE_LIST_TOKEN" in warning


@pytest.mark.parametrize("env, config", [("true", {}), ("false", {"AUTH_WHITE_LIST_TOKEN": False})])
def test_no_warning_when_the_variable_does_not_decide_or_agrees_with_0_1_8(make_app, monkeypatch, caplog, env, config):
    monkeypatch.setenv("WHITE_LIST_TOKEN", env)
    with caplog.at_level(logging.WARNING, logger="flask_auth_service_mongo"):
        make_app(**config)
    assert not [r for r in caplog.records if "WHITE_LIST_TOKEN" in r.getMessage()]


def test_a_0_1_8_sized_secret_key_is_refused_with_how_to_choose_a_new_one(make_app):
    with pytest.raises(ConfigError) as refused:
        make_app(TESTING=False, SECRET_KEY="ten-bytes!")
    message = str(refused.value)
    assert "AUTH_SECRET_KEY must be at least 32 bytes" in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(48))"' in message
    assert "users sign in again" in message
    assert "ten-bytes!" not in message

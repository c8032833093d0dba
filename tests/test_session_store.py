"""One session store per app: its own database, one end path."""

import uuid

from bson import DBRef
from conftest import PASSWORD, SECRET, bearer, database_uri

from examples.app import create_app
from flask_auth_service_mongo import signals
from flask_auth_service_mongo.database import open_database
from flask_auth_service_mongo.models import Role, User
from flask_auth_service_mongo.passwords import hash_password
from flask_auth_service_mongo.state import get_state


def build(name):
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": SECRET,
            "MONGODB_URI": database_uri(name),
            "AUTH_BCRYPT_ROUNDS": 4,
            "AUTH_TOKEN_LOCATION": "headers",
        }
    )


def add_user(app, username):
    with app.app_context():
        role = Role.objects(name="admin").first() or Role(name="admin", permissions={}).save()
        User(username=username, password=hash_password(PASSWORD, 4), role=role).save()


def test_two_apps_in_one_process_keep_to_their_own_databases(server, db_name):
    other_name = db_name + "_b"
    first, second = build(db_name), build(other_name)  # the second built last
    try:
        add_user(first, "alice")
        add_user(second, "bob")
        first_client, second_client = first.test_client(), second.test_client()
        alice = first_client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
        assert alice.status_code == 200
        # bob lives only in the second app's database
        refused = first_client.post("/admin/login", json={"username": "bob", "password": PASSWORD})
        assert refused.json == {"message": "bad_credentials"}
        assert second_client.post("/admin/login", json={"username": "bob", "password": PASSWORD}).status_code == 200
        me = first_client.get("/admin/me", headers=bearer(alice.json["data"]["token"]))
        assert me.status_code == 200

        result = first.test_cli_runner().invoke(
            args=["auth_mongo", "user-new", "-r", "admin", "-u", "carol", "--password", PASSWORD]
        )
        assert result.exit_code == 0, result.output

        a, b = open_database(database_uri(db_name), 2000), open_database(database_uri(other_name), 2000)
        assert sorted(u["username"] for u in a.user.find()) == ["alice", "carol"]
        assert [u["username"] for u in b.user.find()] == ["bob"]
        assert a.session.count_documents({}) == 1 and b.session.count_documents({}) == 1
    finally:
        if server is not None:
            server.drop_database(other_name)


def test_a_forced_clear_ends_every_session_through_the_one_end_path(app, make_user, login):
    user = make_user()
    login(), login()
    runner = app.test_cli_runner()
    ended = []

    def record(sender, user_id, session_ids, reason, **kwargs):
        ended.append((user_id, sorted(session_ids), reason))

    with app.app_context():
        store = get_state().store
        store.legacy.insert_one({"uuid_access": uuid.uuid4().hex, "user": DBRef("user", user.pk)})
        ids = sorted(doc["_id"] for doc in store.sessions.find())
    with signals.sessions_ended.connected_to(record, app):
        result = runner.invoke(args=["auth_mongo", "clear-tokens", "-f"])
    assert result.exit_code == 0, result.output
    assert "2 session(s) removed" in result.output
    assert ended == [(user.pk, ids, "cleared")]
    with app.app_context():
        assert store.sessions.count_documents({}) == 0
        assert store.legacy.count_documents({}) == 0


def test_an_unforced_clear_removes_only_expired_sessions(app, make_user, login):
    make_user()
    login()
    result = app.test_cli_runner().invoke(args=["auth_mongo", "clear-tokens"])
    assert (result.exit_code, result.output.strip()) == (0, "0 session(s) removed")
    with app.app_context():
        assert get_state().store.sessions.count_documents({}) == 1


def test_a_queryset_update_that_disables_a_user_is_refused_on_the_next_request(client, make_user, login):
    make_user()
    token = login()["token"]
    assert client.get("/admin/me", headers=bearer(token)).status_code == 200
    User.objects(username="alice").update(set__active=False)
    response = client.get("/admin/me", headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})


def test_a_raw_demotion_closes_the_admin_routes_on_the_next_request(client, make_user, login):
    make_user()
    token = login()["token"]
    plain = Role(name="user", permissions={}).save()
    User._get_collection().update_one({"username": "alice"}, {"$set": {"role": DBRef("role", plain.pk)}})
    response = client.get("/admin/me", headers=bearer(token))
    assert (response.status_code, response.json) == (403, {"message": "forbidden"})
    assert client.get("/plain/any", headers=bearer(token)).status_code == 200


def test_a_role_renamed_in_the_database_is_seen_on_the_next_request(client, make_user, login):
    make_user()
    token = login()["token"]
    Role._get_collection().update_one({"name": "admin"}, {"$set": {"name": "former-admin"}})
    response = client.get("/admin/me", headers=bearer(token))
    assert (response.status_code, response.json) == (403, {"message": "forbidden"})


def test_a_password_changed_by_a_queryset_update_ends_every_session_of_the_user(app, client, make_user, login):
    make_user()
    first, second = login(), login()
    ended = []
    with signals.sessions_ended.connected_to(lambda sender, reason, **kwargs: ended.append(reason), app):
        User.objects(username="alice").update(set__password=hash_password("set around the library", 4))
        response = client.get("/plain/any", headers=bearer(first["token"]))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})
    assert ended == ["password_reset"]
    with app.app_context():
        assert get_state().store.sessions.count_documents({}) == 0
    assert client.get("/plain/any", headers=bearer(second["token"])).status_code == 401


def test_a_raw_password_write_refuses_the_refresh_and_ends_the_session(app, client, make_user, login):
    make_user()
    pair = login()
    User._get_collection().update_one({"username": "alice"}, {"$set": {"password": hash_password("raw", 4)}})
    refreshed = client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]})
    assert (refreshed.status_code, refreshed.json) == (401, {"message": "unauthorized"})
    with app.app_context():
        assert get_state().store.sessions.count_documents({}) == 0
    assert client.post("/admin/login", json={"username": "alice", "password": "raw"}).status_code == 200


def test_a_session_stored_without_password_stamps_is_still_let_in(app, client, make_user, login):
    make_user()
    token = login()["token"]
    with app.app_context():
        get_state().store.sessions.update_many({}, {"$unset": {"password_stamps": ""}})
    assert client.get("/plain/any", headers=bearer(token)).status_code == 200


def test_a_raw_user_delete_is_refused_on_the_next_request(client, make_user, login):
    make_user()
    token = login()["token"]
    User._get_collection().delete_one({"username": "alice"})
    response = client.get("/plain/any", headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})

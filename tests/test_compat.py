"""Databases written by 0.1.8 keep working as they are."""

import bcrypt
import mongoengine
from bson import DBRef, ObjectId
from conftest import bearer

from flask_auth_service_mongo.models import User


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


def test_a_user_whose_role_was_deleted_logs_in_without_a_role(client):
    user_id, _ = insert_legacy_admin(rounds=4)
    mongoengine.get_db().role.delete_many({})
    refused = client.post("/admin/login", json={"username": "legacy", "password": "old-password"})
    assert refused.json == {"message": "bad_credentials"}
    response = client.post("/plain/login", json={"username": "legacy", "password": "old-password"})
    assert response.status_code == 200
    assert response.json["data"]["role"] is None
    assert client.get("/admin/me", headers=bearer(response.json["data"]["token"])).json == {"message": "forbidden"}

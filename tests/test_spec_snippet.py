"""The usage snippet of the spec works as written."""

from flask import Blueprint, Flask
from flask_restx import Api, Resource

from flask_auth_service_mongo import AuthService, api_rest, auth

view_admin = Blueprint("view_admin", __name__)
api = Api(view_admin)


@api.route("/login")
class ApiLogin(Resource):
    def post(self):
        return api_rest.login(role="admin")


@api.route("/logout")
class ApiLogout(Resource):
    @auth.required(role="admin")
    def post(self):
        return api_rest.logout()


def create_app():
    app = Flask(__name__)
    AuthService(app)  # the extension: AuthService(app) or init_app(app)
    app.register_blueprint(view_admin, url_prefix="/admin")
    return app


def test_the_spec_snippet_logs_in_and_out(monkeypatch, db_name):
    from conftest import database_uri

    monkeypatch.setenv("SECRET_KEY", "a secret of at least thirty-two bytes")
    monkeypatch.setenv("MONGODB_URI", database_uri(db_name))
    app = create_app()
    client = app.test_client()
    from flask_auth_service_mongo.models import Role, User
    from flask_auth_service_mongo.passwords import hash_password

    User(username="root", password=hash_password("a long password", 4), role=Role(name="admin").save()).save()
    login = client.post("/admin/login", json={"username": "root", "password": "a long password"})
    assert login.status_code == 200
    token = login.json["data"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/admin/logout", headers=headers).json == {"message": "ok"}
    assert client.post("/admin/logout", headers=headers).json == {"message": "unauthorized"}

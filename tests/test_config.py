"""Configuration: defaults, the 0.1.8 environment names, start-up failures."""

import pytest
from conftest import database_uri
from flask import Flask

from flask_auth_service_mongo import AuthService
from flask_auth_service_mongo.errors import ConfigError
from flask_auth_service_mongo.extension import get_state


def build(db_name, **config):
    app = Flask(__name__)
    app.config.update({"MONGODB_URI": database_uri(db_name), **config})
    AuthService(app)
    return app


def test_defaults_are_set_once_on_the_app(db_name):
    app = build(db_name, SECRET_KEY="k" * 32)
    for key, value in {
        "AUTH_TOKEN_EXPIRE_MINUTES": 60,
        "AUTH_REFRESH_TOKEN_EXPIRE_MINUTES": 10080,
        "AUTH_WHITE_LIST_TOKEN": True,
        "AUTH_USERNAME_MIN_LENGTH": 3,
        "AUTH_PASSWORD_MIN_LENGTH": 8,
        "AUTH_RESET_PASSWORD_LENGTH": 16,
        "AUTH_REQUIRE_PASSWORD_CHANGE": False,
        "AUTH_BCRYPT_ROUNDS": 12,
        "AUTH_LOGIN_MAX_ATTEMPTS": 5,
        "AUTH_LOGIN_LOCKOUT_SECONDS": 900,
    }.items():
        assert app.config[key] == value, key
    assert app.config["AUTH_SECRET_KEY"] == "k" * 32


def test_init_app_works_as_a_factory(db_name):
    service = AuthService()
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k" * 32, MONGODB_URI=database_uri(db_name))
    service.init_app(app)
    assert get_state(app).settings.keys.signing_key == "k" * 32
    with pytest.raises(RuntimeError, match="already registered"):
        service.init_app(app)


def test_state_without_init_app_is_a_clear_error():
    app = Flask(__name__)
    with app.app_context(), pytest.raises(RuntimeError, match="did you forget"):
        get_state()


def test_legacy_environment_variables_are_honoured_and_parsed(db_name, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "e" * 40)
    monkeypatch.setenv("WHITE_LIST_TOKEN", "False")
    monkeypatch.setenv("TOKEN_EXPIRE_MINUTES", "15")
    monkeypatch.setenv("USERNAME_MIN_LENGTH", "5")
    monkeypatch.setenv("PASSWORD_MIN_LENGTH", "10")
    monkeypatch.setenv("RESET_PASSWORD_LEN_GENERATOR", "20")
    monkeypatch.setenv("REQUIRE_PASSWORD_CHANGE", "true")
    app = build(db_name)
    assert app.config["AUTH_SECRET_KEY"] == "e" * 40
    assert app.config["AUTH_WHITE_LIST_TOKEN"] is False
    assert app.config["AUTH_TOKEN_EXPIRE_MINUTES"] == 15
    assert app.config["AUTH_USERNAME_MIN_LENGTH"] == 5
    assert app.config["AUTH_PASSWORD_MIN_LENGTH"] == 10
    assert app.config["AUTH_RESET_PASSWORD_LENGTH"] == 20
    assert app.config["AUTH_REQUIRE_PASSWORD_CHANGE"] is True


def test_app_config_wins_over_legacy_environment(db_name, monkeypatch):
    monkeypatch.setenv("TOKEN_EXPIRE_MINUTES", "15")
    app = build(db_name, SECRET_KEY="k" * 32, AUTH_TOKEN_EXPIRE_MINUTES=30)
    assert app.config["AUTH_TOKEN_EXPIRE_MINUTES"] == 30


def test_string_values_in_config_are_parsed(db_name):
    app = build(db_name, SECRET_KEY="k" * 32, AUTH_WHITE_LIST_TOKEN="off", AUTH_BCRYPT_ROUNDS="10")
    assert app.config["AUTH_WHITE_LIST_TOKEN"] is False
    assert app.config["AUTH_BCRYPT_ROUNDS"] == 10


def test_missing_secret_fails_at_start_up(db_name, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="AUTH_SECRET_KEY"):
        build(db_name)


def test_short_secret_fails_unless_testing_or_debug(db_name):
    with pytest.raises(ConfigError, match="AUTH_SECRET_KEY must be at least 32 bytes"):
        build(db_name, SECRET_KEY="short")
    assert build(db_name, SECRET_KEY="short", TESTING=True).config["AUTH_SECRET_KEY"] == "short"


@pytest.mark.parametrize(
    "key, value",
    [
        ("AUTH_TOKEN_EXPIRE_MINUTES", "soon"),
        ("AUTH_TOKEN_EXPIRE_MINUTES", 0),
        ("AUTH_WHITE_LIST_TOKEN", "maybe"),
        ("AUTH_BCRYPT_ROUNDS", 3),
        ("AUTH_BCRYPT_ROUNDS", 40),
        ("AUTH_PASSWORD_MIN_LENGTH", 100),
        ("AUTH_LOGIN_MAX_ATTEMPTS", -1),
        ("AUTH_REQUIRE_PASSWORD_CHANGE", "2"),
        ("AUTH_REFRESH_TOKEN_EXPIRE_MINUTES", 10),
        ("AUTH_ALGORITHM", "none"),
        ("MONGODB_URI", ""),
        ("AUTH_SESSION_CACHE", "sometimes"),
        ("AUTH_SESSION_CACHE_MAX_LAG_MS", 5),
        ("AUTH_SESSION_CACHE_SIZE", 0),
    ],
)
def test_bad_values_fail_at_start_up_naming_the_key(db_name, key, value):
    with pytest.raises(ConfigError, match=key):
        build(db_name, SECRET_KEY="k" * 32, **{key: value})


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("mongodb://db.example:27017", "mongodb://db.example:27017/flask_auth"),
        ("mongodb://db.example/?replicaSet=rs0", "mongodb://db.example/flask_auth?replicaSet=rs0"),
        ("mongodb://a,b,c/auth?replicaSet=rs0", "mongodb://a,b,c/auth?replicaSet=rs0"),
    ],
)
def test_a_uri_without_a_database_gets_the_default_one(uri, expected):
    from flask_auth_service_mongo.config import parse_mongodb_uri

    assert parse_mongodb_uri("MONGODB_URI", uri) == expected


@pytest.mark.parametrize("uri", ["not a uri", "http://db.example", "mongodb://", "mongodb://h/?heartbeatFrequencyMS=x"])
def test_a_malformed_uri_fails_at_start_up(db_name, uri):
    with pytest.raises(ConfigError, match="MONGODB_URI"):
        build(db_name, SECRET_KEY="k" * 32, MONGODB_URI=uri)


def test_a_legacy_token_lifetime_beyond_a_week_stretches_the_session(db_name, monkeypatch):
    monkeypatch.setenv("TOKEN_EXPIRE_MINUTES", "43200")
    app = build(db_name, SECRET_KEY="k" * 32)
    assert app.config["AUTH_TOKEN_EXPIRE_MINUTES"] == 43200
    assert app.config["AUTH_REFRESH_TOKEN_EXPIRE_MINUTES"] == 43200


def test_the_settings_never_show_the_secret_or_the_uri(db_name):
    app = build(db_name, SECRET_KEY="a-very-secret-signing-key-of-40-bytes!!!", MONGODB_URI="mongodb://u:pw@h/db")
    shown = repr(get_state(app).settings)
    assert "a-very-secret" not in shown and "pw@" not in shown

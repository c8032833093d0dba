"""The password policy: length in characters, at most 72 UTF-8 bytes (refused,
never cut), spaces and any Unicode allowed."""

import pytest

from flask_auth_service_mongo.models import User


@pytest.fixture
def runner(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["auth_mongo", "role-new", "-n", "admin"])
    return runner


def create(runner, password):
    return runner.invoke(args=["auth_mongo", "user-new", "-r", "admin", "-u", "bob", "--password", password])


@pytest.mark.parametrize(
    "password",
    ["  spaces  inside  ", "pässwörd ünïcödé", "日本語のパスワード", "🔑" * 8, "é" * 36, "x" * 72],
)
def test_spaces_unicode_and_exactly_72_bytes_are_allowed_and_log_in(runner, client, password):
    assert create(runner, password).exit_code == 0
    response = client.post("/admin/login", json={"username": "bob", "password": password})
    assert response.status_code == 200
    assert client.post("/admin/login", json={"username": "bob", "password": password.strip() + "x"}).status_code == 400


@pytest.mark.parametrize("password", ["é" * 37, "🔑" * 19, "x" * 71 + "é"])
def test_over_72_utf8_bytes_is_refused_even_when_short_in_characters(runner, password):
    result = create(runner, password)
    assert result.exit_code != 0 and "72 UTF-8 bytes" in result.output
    assert User.objects(username="bob").count() == 0


def test_length_is_counted_in_characters_not_bytes(runner):
    assert create(runner, "ééééééé").exit_code != 0
    assert create(runner, "éééééééé").exit_code == 0


def test_a_nul_character_is_refused(runner):
    result = create(runner, "long enough\x00")
    assert result.exit_code != 0 and "NUL" in result.output

"""The configuration table of the docs comes from config.DESCRIPTIONS: every
key the extension reads has its line there, and nothing else does."""

from flask_auth_service_mongo import config, keys


def test_every_key_the_extension_reads_has_a_description():
    read = set(config.KEYS) | set(keys.MATERIAL_KEYS) | {"AUTH_SECRET_KEY"}
    assert set(config.DESCRIPTIONS) == read


def test_every_description_is_one_line_and_every_key_a_shown_default():
    for key, description in config.DESCRIPTIONS.items():
        assert description.strip() and "\n" not in description, key
        assert config.shown_default(key), key


def test_defaults_are_shown_as_the_docs_write_them():
    assert config.shown_default("AUTH_TOKEN_EXPIRE_MINUTES") == "60"
    assert config.shown_default("AUTH_WHITE_LIST_TOKEN") == "true"
    assert config.shown_default("AUTH_ALGORITHM") == "``HS256``"
    assert config.shown_default("MONGODB_URI") == "``mongodb://localhost:27017/flask_auth``"
    assert config.shown_default("AUTH_LOGIN_ACCOUNT_MAX_ATTEMPTS") == "``AUTH_LOGIN_MAX_ATTEMPTS``"

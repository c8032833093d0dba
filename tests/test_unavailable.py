"""A database that cannot be reached fails closed: 503, never a pass, never a 500."""

import pytest
from conftest import UNREACHABLE, bearer, signed_token


@pytest.mark.parametrize("flags", [{}, {"TESTING": False, "PROPAGATE_EXCEPTIONS": False}])
@pytest.mark.parametrize("path", ["/admin/me", "/plain/me", "/plain/any"])
def test_guarded_views_answer_503_when_the_database_is_down(make_app, flags, path):
    app = make_app(**UNREACHABLE, **flags)
    response = app.test_client().get(path, headers=bearer(signed_token()))
    assert (response.status_code, response.json) == (503, {"message": "service_unavailable"})


def test_login_answers_503_when_the_database_is_down(unreachable_app):
    response = unreachable_app.test_client().post("/admin/login", json={"username": "alice", "password": "x" * 10})
    assert (response.status_code, response.json) == (503, {"message": "service_unavailable"})


def test_logout_answers_503_when_the_database_is_down(unreachable_app):
    response = unreachable_app.test_client().post("/admin/logout", headers=bearer(signed_token()))
    assert (response.status_code, response.json) == (503, {"message": "service_unavailable"})


def test_a_bad_token_is_still_refused_before_the_database(unreachable_app):
    response = unreachable_app.test_client().get("/admin/me", headers=bearer("a.b.c"))
    assert (response.status_code, response.json) == (401, {"message": "invalid_token"})


def test_indexes_missed_at_start_up_are_created_once_the_database_answers(make_app, db_name):
    import dataclasses

    from conftest import database_uri

    from flask_auth_service_mongo import database
    from flask_auth_service_mongo.state import EXTENSION_KEY

    app = make_app(**UNREACHABLE)
    # The database comes back: here, the app's database is replaced by a live one.
    live = database.open_database(database_uri(db_name), 2000)
    app.extensions[EXTENSION_KEY] = dataclasses.replace(app.extensions[EXTENSION_KEY], database=live)
    assert "username_1" not in live.user.index_information()
    app.test_client().get("/admin/me")
    assert "username_1" in live.user.index_information()
    assert "expires_at_1" in live.session.index_information()

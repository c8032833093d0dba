"""Blinker signals: each event is sent once, with the app as sender and the
documented arguments, from every path where it happens."""

import contextlib
import datetime
import logging

import pytest
from conftest import PASSWORD, bearer, graphql
from freezegun import freeze_time

from flask_auth_service_mongo import signals
from flask_auth_service_mongo.models import Session, User

NAMES = ["user_logged_in", "login_failed", "user_logged_out", "sessions_ended", "password_changed"]


@pytest.fixture
def events(app):
    """Every signal sent by ``app``, as ``(name, arguments)``."""
    sent = []
    receivers = []
    for name in NAMES:

        def receiver(sender, _name=name, **kwargs):
            assert sender is app
            sent.append((_name, kwargs))

        receivers.append(receiver)
        getattr(signals, name).connect(receiver, app)
    yield sent
    for name, receiver in zip(NAMES, receivers):
        getattr(signals, name).disconnect(receiver, app)


@contextlib.contextmanager
def recorded(signal, app):
    """The arguments of every ``signal`` that ``app`` sends within the block."""
    sent = []
    with signal.connected_to(lambda sender, **kwargs: sent.append(kwargs), app):
        yield sent


def ended(events):
    """The ``sessions_ended`` events as ``(user_id, session_ids, reason)``."""
    return [(e["user_id"], e["session_ids"], e["reason"]) for name, e in events if name == "sessions_ended"]


def session_ids(user):
    return sorted(s.pk for s in Session.objects(user=user.pk))


def admin_mutation(client, token, mutation, user, fields="ok"):
    query = f"mutation($id: ID!) {{ {mutation}(input: {{id: $id}}) {{ {fields} }} }}"
    return graphql(client, query, token, {"id": str(user.pk)}).json


def test_a_login_sends_user_logged_in_with_the_user_and_its_session(login, alice, events):
    pair = login()
    ((name, arguments),) = events
    assert name == "user_logged_in"
    assert arguments["user"].pk == alice.pk
    assert arguments["session_id"] == Session.objects.get().pk
    assert pair["token"]


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_a_failed_login_sends_login_failed_for_known_and_unknown_users(client, alice, events, username):
    client.post("/admin/login", json={"username": username, "password": "wrong password"})
    assert events == [("login_failed", {"username": username, "reason": "bad_credentials"})]


def test_a_locked_out_login_sends_login_failed_with_its_reason(make_app, make_user):
    app = make_app(AUTH_LOGIN_MAX_ATTEMPTS=1)
    make_user()
    with recorded(signals.login_failed, app) as sent:
        client = app.test_client()
        client.post("/admin/login", json={"username": "alice", "password": "wrong password"})
        assert client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).status_code == 429
        assert [e["reason"] for e in sent] == ["bad_credentials", "locked_out"]


def test_a_logout_sends_user_logged_out_and_no_sessions_ended(client, pair, events):
    alice, sid = User.objects.get(), Session.objects.get().pk
    events.clear()
    client.post("/admin/logout", headers=bearer(pair["token"]))
    ((name, arguments),) = events
    assert (name, arguments["user"].pk, arguments["session_id"]) == ("user_logged_out", alice.pk, sid)


def test_logout_everywhere_sends_every_session_ended(client, login, alice, events):
    token = login()["token"]
    login()
    ids = session_ids(alice)
    client.post("/admin/logout-all", headers=bearer(token))
    assert [(user_id, sorted(sids), reason) for user_id, sids, reason in ended(events)] == [
        (alice.pk, ids, "logout_all")
    ]


def test_revoking_a_session_sends_it_as_revoked(client, login, alice, events):
    token, other = login()["token"], login()["token"]
    listed = client.get("/admin/sessions", headers=bearer(token)).json["data"]
    victim = next(item["id"] for item in listed if not item["current"])
    client.delete(f"/admin/sessions/{victim}", headers=bearer(token))
    assert ended(events) == [(alice.pk, [victim], "revoked")]
    assert other


def test_a_password_change_ends_the_other_sessions_and_sends_password_changed(client, login, alice, events):
    token, other = login()["token"], login()["token"]
    other_sid = next(i["id"] for i in client.get("/admin/sessions", headers=bearer(other)).json["data"] if i["current"])
    events.clear()
    query = "mutation($p: UpdatePasswordInput!) { update_password(input: $p) { ok } }"
    change = {"current_password": PASSWORD, "new_password": "a new password", "password_confirmed": "a new password"}
    assert graphql(client, query, token, {"p": change}).json == {"data": {"update_password": {"ok": True}}}
    assert ended(events) == [(alice.pk, [other_sid], "password_changed")]
    assert [e["user"].pk for name, e in events if name == "password_changed"] == [alice.pk]


def test_an_admin_reset_ends_the_sessions_as_password_reset(client, login, make_user, alice, events):
    token = login()["token"]
    bob = make_user(username="bob", role="editor")
    login(username="bob", path="/plain/login")
    bob_sessions = session_ids(bob)
    events.clear()
    answer = admin_mutation(client, token, "reset_password", bob, "password")
    assert answer["data"]["reset_password"]["password"]
    assert ended(events) == [(bob.pk, bob_sessions, "password_reset")]
    assert [e["user"].pk for name, e in events if name == "password_changed"] == [bob.pk]


@pytest.mark.parametrize(
    ("mutation", "fields", "reason"),
    [("delete_user", "ok", "deleted"), (None, None, "deactivated")],
)
def test_deactivating_or_deleting_a_user_ends_its_sessions_once(
    client, login, make_user, alice, events, mutation, fields, reason
):
    token = login()["token"]
    bob = make_user(username="bob", role="editor")
    login(username="bob", path="/plain/login")
    bob_sessions = session_ids(bob)
    events.clear()
    if mutation:
        assert admin_mutation(client, token, mutation, bob, fields)["data"][mutation]
    else:
        query = "mutation($id: ID!) { update_user(input: {id: $id, active: false}) { user { active } } }"
        assert graphql(client, query, token, {"id": str(bob.pk)}).json["data"]["update_user"]
    assert ended(events) == [(bob.pk, bob_sessions, reason)]


def test_a_model_save_that_deactivates_sends_deactivated(app, login, alice, events):
    login()
    ids = session_ids(alice)
    with app.app_context():
        user = User.objects.get(pk=alice.pk)
        user.active = False
        user.save()
    assert ended(events) == [(alice.pk, ids, "deactivated")]


def test_a_replayed_refresh_token_ends_its_session_as_refresh_reuse(client, pair, events):
    alice, sid = User.objects.get(), Session.objects.get().pk
    client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]})
    client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]})
    assert ended(events) == [(alice.pk, [sid], "refresh_reuse")]


def test_an_idle_session_ends_as_idle(make_app, make_user):
    app = make_app(AUTH_SESSION_IDLE_MINUTES=30)
    make_user()
    with recorded(signals.sessions_ended, app) as sent:
        client = app.test_client()
        start = datetime.datetime.now(datetime.timezone.utc)
        with freeze_time(start):
            token = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
        sid = Session.objects.get().pk
        with freeze_time(start + datetime.timedelta(minutes=31)):
            assert client.get("/admin/me", headers=bearer(token)).status_code == 401
        assert [(e["session_ids"], e["reason"]) for e in sent] == [([sid], "idle")]


def test_the_session_limit_ends_sessions_as_session_limit(make_app, make_user):
    app = make_app(AUTH_MAX_SESSIONS_PER_USER=1)
    alice = make_user()
    with recorded(signals.sessions_ended, app) as sent:
        client = app.test_client()
        client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
        first = Session.objects.get().pk
        client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
        assert [(e["user_id"], e["session_ids"], e["reason"]) for e in sent] == [(alice.pk, [first], "session_limit")]


def test_a_receiver_that_raises_is_logged_and_changes_nothing(app, client, alice, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    signals.user_logged_in.connect(broken, app)
    caplog.set_level(logging.ERROR, logger="flask_auth_service_mongo")
    response = client.post("/admin/login", json={"username": "alice", "password": PASSWORD})
    signals.user_logged_in.disconnect(broken, app)
    assert response.status_code == 200
    assert "a receiver of the user-logged-in signal failed" in caplog.text


def test_a_receiver_connected_to_another_app_hears_nothing(make_app, client, login, alice):
    other = make_app()
    with recorded(signals.user_logged_in, other) as sent:
        login()
    assert sent == []

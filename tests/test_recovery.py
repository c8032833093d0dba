"""Account recovery by e-mail, through a real SMTP server on loopback.

Each test's app mails through aiosmtpd (tests/smtp.py) with Flask-Mailman's
SMTP backend; the tests read the received message, follow its link (the
token at its end) and check the answers and what MongoDB keeps.
"""

from __future__ import annotations

import datetime
import logging

import pytest
from blinker import ANY
from conftest import PASSWORD, bearer, graphql
from freezegun import freeze_time
from smtp import SmtpServer
from wire_server import free_port

from flask_auth_service_mongo import api_rest, emails, signals
from flask_auth_service_mongo.recovery import wait_for_mail

NEW_PASSWORD = "a brand new secret"
RESET_URL = "http://localhost:5000/#reset={token}"
CONFIRM_URL = "http://localhost:5000/#confirm-email={token}"


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def app(make_app, smtp):
    return make_app(**smtp.config, AUTH_RESET_URL=RESET_URL, AUTH_EMAIL_CONFIRM_URL=CONFIRM_URL)


@pytest.fixture
def alice(make_user):
    user = make_user()
    emails.set_address(user.pk, "alice@example.test")
    return user


def forgot(client, **body):
    return client.post("/admin/forgot-password", json=body)


def reset(client, token, password=NEW_PASSWORD, confirmed=None, **extra):
    body = {"token": token, "new_password": password, "password_confirmed": confirmed or password, **extra}
    return client.post("/admin/reset-password", json=body)


def reset_link_token(client, smtp, **body) -> str:
    """Ask for a reset link (by e-mail address by default) and return its token."""
    response = forgot(client, **(body or {"email": "alice@example.test"}))
    assert response.status_code == 202, response.json
    return smtp.next_message().token()


def login_status(client, password):
    return client.post("/admin/login", json={"username": "alice", "password": password}).status_code


def stored_links():
    return list(emails.link_tokens().find())


# -- the reset link --------------------------------------------------------------


def test_a_known_address_gets_a_link_whose_token_resets_the_password(client, smtp, alice):
    response = forgot(client, email="  Alice@Example.TEST ")
    assert (response.status_code, response.json) == (202, {"message": "ok"})
    received = smtp.next_message()
    assert received.recipients == ["alice@example.test"]
    assert received.message["To"] == "alice@example.test"
    assert received.message["From"] == "Accounts <accounts@example.test>"
    assert received.message["Subject"] == "Reset your password"
    link = received.link()
    assert link.startswith("http://localhost:5000/#reset=")
    assert f'href="{link}"' in received.part("html")
    token = received.token()
    assert len(token) == 43  # 32 random bytes, URL-safe base64

    stored = stored_links()
    assert len(stored) == 1
    assert token not in str(stored) and stored[0]["digest"] == emails.digest(token)  # only its hash is kept

    response = reset(client, token)
    assert (response.status_code, response.json) == (200, {"message": "ok"})
    assert login_status(client, PASSWORD) == 400
    assert login_status(client, NEW_PASSWORD) == 200
    assert stored_links() == []


def test_a_username_gets_the_link_at_the_accounts_address(client, smtp, alice):
    token = reset_link_token(client, smtp, username="ALICE")
    assert reset(client, token).status_code == 200
    assert login_status(client, NEW_PASSWORD) == 200


@pytest.mark.parametrize(
    "body",
    [
        {"email": "nobody@example.test"},
        {"username": "nobody"},
        {"username": "bob"},  # exists, has no address
        {"username": "carol"},  # inactive
        {"email": "carol@example.test"},
    ],
    ids=["unknown address", "unknown user", "no address", "inactive by name", "inactive by address"],
)
def test_the_answer_is_the_same_and_nothing_is_sent_when_no_mail_can_go(app, client, smtp, alice, make_user, body):
    make_user("bob")
    carol = make_user("carol", active=False)
    emails.set_address(carol.pk, "carol@example.test")
    response = forgot(client, **body)
    assert (response.status_code, response.json) == (202, {"message": "ok"})
    wait_for_mail(app)
    assert smtp.pending() is None
    assert stored_links() == []


def test_a_spent_token_is_invalid(client, smtp, alice):
    token = reset_link_token(client, smtp)
    assert reset(client, token).status_code == 200
    response = reset(client, token, "yet another secret")
    assert (response.status_code, response.json) == (400, {"message": "invalid_token"})
    assert login_status(client, NEW_PASSWORD) == 200


@pytest.mark.parametrize("position", [0, 20, 42])
def test_a_token_with_one_character_flipped_is_invalid(client, smtp, alice, position):
    token = reset_link_token(client, smtp)
    flipped = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
    response = reset(client, flipped)
    assert (response.status_code, response.json) == (400, {"message": "invalid_token"})
    assert reset(client, token).status_code == 200  # the real one still works


def test_an_expired_token_is_invalid(client, smtp, alice):
    token = reset_link_token(client, smtp)
    with freeze_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=31)):
        response = reset(client, token)
    assert (response.status_code, response.json) == (400, {"message": "invalid_token"})
    assert login_status(client, PASSWORD) == 200


def test_a_newer_link_voids_the_older_one(client, smtp, alice):
    older = reset_link_token(client, smtp)
    newer = reset_link_token(client, smtp)
    assert older != newer
    assert reset(client, older).json == {"message": "invalid_token"}
    assert reset(client, newer).status_code == 200


def test_the_reset_ends_every_session_and_sends_password_changed(app, client, smtp, alice, login):
    tokens = [login()["access_token"] for _ in range(2)]
    token = reset_link_token(client, smtp)
    ended, changed = [], []
    with (
        signals.sessions_ended.connected_to(lambda app, **kw: ended.append(kw), app),
        signals.password_changed.connected_to(lambda app, **kw: changed.append(kw["user"].username), ANY),
    ):
        assert reset(client, token).status_code == 200
    assert {reason["reason"] for reason in ended} == {"password_reset"}
    assert sum(len(e["session_ids"]) for e in ended) == 2
    assert changed == ["alice"]
    for access_token in tokens:
        assert client.get("/admin/me", headers=bearer(access_token)).status_code == 401


@pytest.mark.parametrize(
    ("password", "confirmed", "code"),
    [
        ("short", "short", "password_too_short"),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "passwords_do_not_match"),
        ("x" * 73, "x" * 73, "password_too_long"),
    ],
)
def test_a_password_the_policy_refuses_keeps_the_token(client, smtp, alice, password, confirmed, code):
    token = reset_link_token(client, smtp)
    response = reset(client, token, password, confirmed)
    assert (response.status_code, response.json) == (400, {"message": code})
    assert reset(client, token).status_code == 200


def test_a_mailed_link_expires_after_the_configured_minutes(make_app, smtp, alice):
    app = make_app(**smtp.config, AUTH_RESET_URL=RESET_URL, AUTH_RESET_TOKEN_MINUTES=5)
    client = app.test_client()
    token = reset_link_token(client, smtp)
    assert "within 5 minutes" in smtp.messages[-1].part("plain")
    with freeze_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=6)):
        assert reset(client, token).json == {"message": "invalid_token"}


# -- delivery ----------------------------------------------------------------------


def test_an_smtp_server_that_is_down_still_answers_202_logs_and_leaves_no_usable_token(make_app, alice, caplog):
    app = make_app(
        MAIL_BACKEND="smtp",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=free_port(),  # nobody listens
        MAIL_DEFAULT_SENDER="accounts@example.test",
        MAIL_PASSWORD="smtp-secret-password",
        AUTH_RESET_URL=RESET_URL,
    )
    caplog.set_level(logging.INFO, logger="flask_auth_service_mongo")
    response = forgot(app.test_client(), email="alice@example.test")
    assert (response.status_code, response.json) == (202, {"message": "ok"})
    wait_for_mail(app)
    assert stored_links() == []
    failures = [r for r in caplog.records if "could not mail reset_password" in r.getMessage()]
    assert len(failures) == 1 and "ConnectionRefusedError" in failures[0].getMessage()
    assert "smtp-secret-password" not in caplog.text and "#reset=" not in caplog.text


def test_a_callable_sender_gets_the_message_instead_of_smtp(make_app, alice):
    sent = []
    app = make_app(AUTH_MAIL_SENDER=lambda *message: sent.append(message), AUTH_RESET_URL=RESET_URL)
    assert forgot(app.test_client(), email="alice@example.test").status_code == 202
    wait_for_mail(app)
    [(to, subject, text, html)] = sent
    assert (to, subject) == ("alice@example.test", "Reset your password")
    assert "#reset=" in text and "#reset=" in html


def test_a_sender_that_raises_leaves_no_usable_token(make_app, alice, caplog):
    def broken(*message):
        raise RuntimeError("the provider said no")

    app = make_app(AUTH_MAIL_SENDER=broken, AUTH_RESET_URL=RESET_URL)
    assert forgot(app.test_client(), email="alice@example.test").status_code == 202
    wait_for_mail(app)
    assert stored_links() == []
    assert "could not mail reset_password" in caplog.text


def test_the_app_overrides_a_message_with_a_template_of_its_own(make_app, smtp, alice, tmp_path):
    from flask import Blueprint

    folder = tmp_path / "auth" / "mail"
    folder.mkdir(parents=True)
    (folder / "reset_password.subject.txt").write_text("Your {{ username }} reset\r\nBcc: eve@evil.test")
    (folder / "reset_password.txt").write_text("Go to {{ link }} soon.")
    app = make_app(**smtp.config, AUTH_RESET_URL=RESET_URL)
    app.register_blueprint(Blueprint("mail_templates", __name__, template_folder=str(tmp_path)))
    client = app.test_client()
    assert forgot(client, email="alice@example.test").status_code == 202
    received = smtp.next_message()
    assert received.message["Subject"] == "Your alice reset Bcc: eve@evil.test"  # one header line
    assert received.message["Bcc"] is None and received.recipients == ["alice@example.test"]
    assert received.part("plain").startswith("Go to http://localhost:5000/#reset=")
    assert "Choose a new password" in received.part("html")  # the package's own template
    assert reset(client, received.token()).status_code == 200


@pytest.mark.parametrize(
    "address",
    [
        "alice@example.test\r\nBcc: eve@evil.test",
        "alice@example.test\nBcc: eve@evil.test",
        "alice@example.test, eve@evil.test",
        "Alice <alice@example.test>",
        "alice@example.test\x00",
    ],
)
def test_header_injection_in_the_address_is_refused_and_nothing_is_sent(app, client, smtp, alice, address):
    response = forgot(client, email=address)
    assert (response.status_code, response.json) == (400, {"message": "email_invalid"})
    wait_for_mail(app)
    assert smtp.pending() is None


# -- bad input and configuration -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/admin/forgot-password", {}),
        ("/admin/forgot-password", {"email": "a@b.test", "username": "alice"}),
        ("/admin/forgot-password", {"email": 5}),
        ("/admin/forgot-password", {"email": "not an address"}),
        ("/admin/forgot-password", {"email": "@example.test"}),
        ("/admin/forgot-password", {"email": "a" * 300 + "@example.test"}),
        ("/admin/forgot-password", {"email": "\ud800@example.test"}),
        ("/admin/forgot-password", {"email": "a@b.test", "role": "admin"}),
        ("/admin/forgot-password", []),
        ("/admin/reset-password", {"token": "x"}),
        ("/admin/reset-password", {"token": "x", "new_password": NEW_PASSWORD, "password_confirmed": NEW_PASSWORD}),
        ("/admin/reset-password", {"token": ["x"], "new_password": "a", "password_confirmed": "a"}),
        ("/admin/reset-password", {"token": "x" * 2000, "new_password": "a", "password_confirmed": "a"}),
        (
            "/admin/reset-password",
            {"token": "x", "new_password": NEW_PASSWORD, "password_confirmed": NEW_PASSWORD, "code": 1},
        ),
        ("/admin/confirm-email", {"token": "x"}),
        ("/admin/confirm-email", {"token": None}),
    ],
)
def test_bad_input_is_a_400_never_a_500(app, client, smtp, alice, path, body):
    response = client.post(path, json=body)
    assert response.status_code == 400, response.json
    assert response.json["message"] in ("bad_request", "email_invalid", "invalid_token")
    wait_for_mail(app)
    assert smtp.pending() is None


def test_a_body_that_is_not_json_is_a_400(client):
    response = client.post(
        "/admin/forgot-password", data="email=a@b.test", content_type="application/x-www-form-urlencoded"
    )
    assert (response.status_code, response.json["message"]) == (400, "bad_request")


def test_recovery_is_off_without_a_reset_url(make_app, alice):
    client = make_app(AUTH_RESET_URL="", AUTH_EMAIL_CONFIRM_URL="").test_client()
    assert forgot(client, email="alice@example.test").json == {"message": "not_found"}
    assert forgot(client, email="alice@example.test").status_code == 404
    assert reset(client, "x").status_code == 404
    assert client.post("/admin/confirm-email", json={"token": "x"}).status_code == 404


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"AUTH_RESET_URL": "http://localhost/reset"}, "AUTH_RESET_URL"),
        ({"AUTH_RESET_URL": "/reset?token={token}"}, "AUTH_RESET_URL"),
        ({"AUTH_EMAIL_CONFIRM_URL": "javascript:{token}"}, "AUTH_EMAIL_CONFIRM_URL"),
        ({"AUTH_MAIL_SENDER": "smtp"}, "AUTH_MAIL_SENDER"),
        ({"AUTH_RESET_TOKEN_MINUTES": 0}, "AUTH_RESET_TOKEN_MINUTES"),
        ({"MAIL_DEFAULT_SENDER": None}, "MAIL_DEFAULT_SENDER"),
    ],
)
def test_bad_recovery_settings_fail_at_start_up(make_app, config, named):
    with pytest.raises(ValueError, match=named):
        make_app(**{"AUTH_RESET_URL": RESET_URL, **config})


# -- throttling ---------------------------------------------------------------------


def test_requests_for_one_address_are_throttled_whether_or_not_it_exists(app, client, alice):
    for address in ("alice@example.test", "nobody@example.test"):
        answers = [forgot(client, email=address) for _ in range(6)]
        assert [a.status_code for a in answers] == [202] * 5 + [429]
        assert int(answers[-1].headers["Retry-After"]) > 0
        assert answers[-1].json == {"message": "too_many_attempts"}


def test_requests_from_one_ip_are_throttled_across_addresses(make_app, smtp):
    client = make_app(**smtp.config, AUTH_RESET_URL=RESET_URL, AUTH_LOGIN_IP_MAX_ATTEMPTS=3).test_client()
    answers = [forgot(client, email=f"user{n}@example.test").status_code for n in range(4)]
    assert answers == [202, 202, 202, 429]


# -- changing the address ---------------------------------------------------------------


def change_email(client, access_token, email):
    return client.post("/admin/email", json={"email": email}, headers=bearer(access_token))


def confirm(client, token):
    return client.post("/admin/confirm-email", json={"token": token})


def test_a_new_address_takes_effect_only_when_its_link_is_opened(app, client, smtp, alice, login):
    access_token = login()["access_token"]
    response = change_email(client, access_token, "Alice@New.Example")
    assert (response.status_code, response.json) == (202, {"message": "ok"})
    first, second = smtp.next_message(), smtp.next_message()
    [notice] = [m for m in (first, second) if m.recipients == ["alice@example.test"]]
    [confirmation] = [m for m in (first, second) if m.recipients == ["alice@new.example"]]
    assert "alice@new.example" in notice.part("plain") and "http" not in notice.part("plain")
    assert confirmation.link().startswith("http://localhost:5000/#confirm-email=")
    assert emails.address_of(alice.pk) == "alice@example.test"  # not yet

    response = confirm(client, confirmation.token())
    assert (response.status_code, response.json) == (200, {"message": "ok", "data": {"email": "alice@new.example"}})
    assert emails.address_of(alice.pk) == "alice@new.example"
    assert confirm(client, confirmation.token()).json == {"message": "invalid_token"}  # spent
    assert reset_link_token(client, smtp, email="alice@new.example")


def test_confirming_a_new_address_voids_the_reset_links_sent_to_the_old_one(client, smtp, alice, login):
    reset_token = reset_link_token(client, smtp)
    change_email(client, login()["access_token"], "alice@new.example")
    tokens = {m.recipients[0]: m for m in (smtp.next_message(), smtp.next_message())}
    assert confirm(client, tokens["alice@new.example"].token()).status_code == 200
    assert reset(client, reset_token).json == {"message": "invalid_token"}


def test_a_link_of_one_purpose_is_not_accepted_for_the_other(client, smtp, alice, login):
    change_email(client, login()["access_token"], "alice@new.example")
    confirmation = next(m for m in (smtp.next_message(), smtp.next_message()) if m.recipients == ["alice@new.example"])
    assert reset(client, confirmation.token()).json == {"message": "invalid_token"}
    reset_token = reset_link_token(client, smtp)
    assert confirm(client, reset_token).json == {"message": "invalid_token"}
    assert {link["purpose"] for link in stored_links()} == {"reset_password", "confirm_email"}  # neither spent
    assert reset(client, reset_token).status_code == 200


def test_changing_the_address_needs_a_fresh_login(client, alice, login):
    access_token = login()["access_token"]
    with freeze_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=6)):
        response = change_email(client, access_token, "alice@new.example")
    assert (response.status_code, response.json) == (401, {"message": "fresh_login_required"})
    assert change_email(client, "nonsense", "alice@new.example").status_code == 401


def test_an_address_of_another_account_gets_no_link_and_confirming_a_taken_one_fails(
    app, client, smtp, alice, make_user, login
):
    bob = make_user("bob")
    emails.set_address(bob.pk, "bob@example.test")
    assert change_email(client, login()["access_token"], "bob@example.test").status_code == 202
    wait_for_mail(app)
    assert smtp.next_message().recipients == ["alice@example.test"]  # the notice only
    assert smtp.pending() is None

    change_email(client, login()["access_token"], "shared@example.test")
    confirmation = next(
        m for m in (smtp.next_message(), smtp.next_message()) if m.recipients == ["shared@example.test"]
    )
    emails.set_address(bob.pk, "shared@example.test")  # bob took it meanwhile
    assert confirm(client, confirmation.token()).json == {"message": "email_taken"}
    assert emails.address_of(alice.pk) == "alice@example.test"


def test_the_same_address_again_is_refused(client, alice, login):
    response = change_email(client, login()["access_token"], "ALICE@example.test")
    assert (response.status_code, response.json) == (400, {"message": "same_email"})


def test_a_password_reset_voids_a_pending_address_change(client, smtp, alice, login):
    change_email(client, login()["access_token"], "alice@new.example")
    confirmation = next(m for m in (smtp.next_message(), smtp.next_message()) if m.recipients == ["alice@new.example"])
    assert reset(client, reset_link_token(client, smtp)).status_code == 200
    assert confirm(client, confirmation.token()).json == {"message": "invalid_token"}


# -- where addresses are set ---------------------------------------------------------------

CREATE = """mutation($input: CreateUserInput!) { create_user(input: $input) { user { id username email } } }"""
UPDATE = """mutation($input: UpdateUserInput!) { update_user(input: $input) { user { email } } }"""


def test_admins_set_addresses_through_graphql(client, smtp, alice, login):
    admin_token = login()["access_token"]
    user_input = {"username": "dave", "password": PASSWORD, "password_confirmed": PASSWORD, "role": "staff"}
    from flask_auth_service_mongo.models import Role

    Role(name="staff").save()
    created = graphql(client, CREATE, admin_token, {"input": {**user_input, "email": "Dave@Example.test"}})
    user = created.json["data"]["create_user"]["user"]
    assert user["email"] == "dave@example.test"

    taken = graphql(
        client, CREATE, admin_token, {"input": {**user_input, "username": "erin", "email": "dave@example.test"}}
    )
    assert taken.json["errors"][0]["message"] == "email_taken"
    bad = graphql(
        client, CREATE, admin_token, {"input": {**user_input, "username": "erin", "email": "e@x.test\r\nBcc: f@x.test"}}
    )
    assert bad.json["errors"][0]["message"] == "email_invalid"

    reset_token = reset_link_token(client, smtp, email="dave@example.test")
    updated = graphql(client, UPDATE, admin_token, {"input": {"id": user["id"], "email": "dave@new.example"}})
    assert updated.json["data"]["update_user"]["user"]["email"] == "dave@new.example"
    assert reset(client, reset_token).json == {"message": "invalid_token"}  # sent to the old address
    removed = graphql(client, UPDATE, admin_token, {"input": {"id": user["id"], "email": ""}})
    assert removed.json["data"]["update_user"]["user"]["email"] is None
    listed = graphql(client, "{ users { username email } }", admin_token)
    assert {u["username"]: u["email"] for u in listed.json["data"]["users"]} == {
        "alice": "alice@example.test",
        "dave": None,
    }


def test_user_new_takes_an_email(app):
    from flask_auth_service_mongo.models import Role, User

    Role(name="admin").save()
    runner = app.test_cli_runner()

    def user_new(username, email):
        command = ["auth_mongo", "user-new", "-r", "admin", "-u", username, "--password", PASSWORD, "--email", email]
        return runner.invoke(args=command)

    result = user_new("frank", "Frank@Example.test")
    assert result.exit_code == 0, result.output
    assert emails.address_of(User.find_by_username("frank").pk) == "frank@example.test"
    bad = user_new("gina", "nope")
    assert bad.exit_code != 0 and "not an e-mail address" in bad.output and User.find_by_username("gina") is None
    taken = user_new("gina", "frank@example.test")
    assert taken.exit_code != 0 and "another account" in taken.output and User.find_by_username("gina") is None


def test_deleting_a_user_removes_its_address_and_links(client, smtp, alice):
    reset_link_token(client, smtp)
    alice.delete()
    assert emails.address_of(alice.pk) is None and stored_links() == []


def test_the_templates_ship_in_the_package(tmp_path):
    """What ``setup.py build`` (and so a wheel) puts in the package: every template."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    build = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)],
        cwd=root,
        check=True,
        capture_output=True,
    )
    source = {p.name for p in (root / "flask_auth_service_mongo/templates/auth/mail").iterdir()}
    shipped = {p.name for p in (build / "flask_auth_service_mongo/templates/auth/mail").iterdir()}
    assert len(source) == 9 and shipped == source


def test_a_personal_access_token_cannot_change_the_address(app, client, smtp, alice, login):
    from flask_auth_service_mongo import auth
    from flask_auth_service_mongo.models import Role

    @app.post("/plain/email")
    @auth.required(scope="read:users")
    def plain_email():
        return api_rest.change_email()

    Role.objects(name="admin").update(set__permissions={"scopes": ["read:users"]})
    session_token = login()["access_token"]
    body = {"name": "ci", "scopes": ["read:users"], "expires_in_days": 30}
    created = client.post("/admin/tokens", json=body, headers=bearer(session_token))
    assert created.status_code == 201, created.json
    response = client.post(
        "/plain/email", json={"email": "eve@evil.test"}, headers=bearer(created.json["data"]["token"])
    )
    assert (response.status_code, response.json) == (403, {"message": "forbidden"})  # the account endpoints' answer
    assert smtp.pending() is None and emails.address_of(alice.pk) == "alice@example.test"


def test_a_reset_never_bypasses_the_second_factor(client, smtp, alice, login):
    from mfa_helpers import enrol

    authenticator, recovery_codes = enrol(client, login()["access_token"])
    token = reset_link_token(client, smtp)
    assert (reset(client, token).status_code, reset(client, token).json) == (400, {"message": "mfa_required"})
    assert reset(client, token, code="000000").json == {"message": "bad_code"}
    assert reset(client, token, code=authenticator.code()).status_code == 200
    assert reset(client, token, code=authenticator.code()).json == {"message": "invalid_token"}  # spent
    answer = client.post("/admin/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert answer.json["message"] == "mfa_required"  # the factor is still asked at login


def test_a_recovery_code_also_passes_the_reset(client, smtp, alice, login):
    from mfa_helpers import enrol

    _, recovery_codes = enrol(client, login()["access_token"])
    token = reset_link_token(client, smtp)
    assert reset(client, token, code=recovery_codes[0]).status_code == 200

"""The example page's "Forgot password?" in headless Chromium, through a real
SMTP server: ask for the link, open the mailed link, choose a new password,
sign in with it. Skipped only when no browser is installed, never under CI."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import waitress
from chromium import chromium, require_browser
from conftest import PASSWORD, SECRET, database_uri
from smtp import SmtpServer
from test_browser_page import NEW_PASSWORD, Site, rows, sign_in, state, stop, wait
from wire_server import free_port

from examples.app import create_app
from flask_auth_service_mongo import emails


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def site(db_name, alice, smtp) -> Iterator[Site]:
    require_browser()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = {
        "SECRET_KEY": SECRET,
        "MONGODB_URI": database_uri(db_name),
        "AUTH_BCRYPT_ROUNDS": 4,
        "AUTH_RESET_URL": url + "/#reset={token}",
        "AUTH_EMAIL_CONFIRM_URL": url + "/#confirm-email={token}",
        **smtp.config,
    }
    app = create_app(config)
    with app.app_context():
        emails.set_address(alice.pk, "alice@example.test")
    server = waitress.create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    yield Site(app, url)
    stop(server, thread)


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path) as driver:
        yield driver


def test_a_forgotten_password_is_reset_through_the_mailed_link(site, alice, smtp, browser, tmp_path):
    assert site.login_status(PASSWORD) == 200  # a session elsewhere, which the reset ends
    assert site.sessions(alice) == 1

    browser.get(site.url + "/")
    wait(browser, lambda d: state(d) == "signed-out", "the sign-in form")
    browser.find_element("id", "forgot-link").click()
    wait(browser, lambda d: state(d) == "forgot", "the forgot-password form")
    browser.find_element("id", "forgot-email").send_keys("alice@example.test")
    browser.find_element("id", "forgot-button").click()
    wait(browser, lambda d: state(d) == "link-sent", "the link sent")
    assert "Check your inbox" in browser.find_element("id", "signed-out-text").text

    link = smtp.next_message().link()
    assert link.startswith(site.url + "/#reset=")
    browser.get(link)
    wait(browser, lambda d: state(d) == "reset", "the reset form")
    assert "#reset" not in browser.current_url  # the token left the address bar
    browser.find_element("id", "reset-password").send_keys(NEW_PASSWORD)
    browser.find_element("id", "reset-confirm").send_keys(NEW_PASSWORD)
    browser.find_element("id", "reset-button").click()
    wait(browser, lambda d: state(d) == "password-reset", "the password reset")
    browser.save_screenshot(str(tmp_path / "password-reset.png"))
    assert site.sessions(alice) == 0
    assert site.login_status(PASSWORD) == 400

    sign_in(browser, site, NEW_PASSWORD)
    assert len(rows(browser)) == 1

    # The same link again: it was spent.
    browser.get(link)
    wait(browser, lambda d: state(d) == "reset", "the reset form again")
    browser.find_element("id", "reset-password").send_keys("another new secret")
    browser.find_element("id", "reset-confirm").send_keys("another new secret")
    browser.find_element("id", "reset-button").click()
    error = browser.find_element("id", "reset-error")
    wait(browser, lambda d: error.is_displayed(), "the error message")
    assert "no longer works" in error.text


def test_a_signed_in_user_changes_the_address_through_the_confirmation_link(site, alice, smtp, browser):
    sign_in(browser, site)
    browser.find_element("id", "new-email").send_keys("alice@new.example")
    browser.find_element("id", "email-button").click()
    wait(browser, lambda d: "confirmation link was sent" in d.find_element("id", "notice").text, "the link sent")
    received = {m.recipients[0]: m for m in (smtp.next_message(), smtp.next_message())}
    assert set(received) == {"alice@example.test", "alice@new.example"}
    with site.app.app_context():
        assert emails.address_of(alice.pk) == "alice@example.test"
    browser.get(received["alice@new.example"].link())
    wait(browser, lambda d: "now alice@new.example" in d.find_element("id", "notice").text, "the address confirmed")
    assert state(browser) == "signed-in"
    with site.app.app_context():
        assert emails.address_of(alice.pk) == "alice@new.example"

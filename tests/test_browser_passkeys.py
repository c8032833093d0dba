"""Passkeys on the example's page, in headless Chromium with a virtual
authenticator (CTAP2, internal, resident key, user verification): register,
sign out, sign in without typing a username, remove; an authenticator
without user verification is refused. Never skipped under CI."""

from __future__ import annotations

import pytest
from chromium import chromium, require_browser
from conftest import PASSWORD, SECRET, database_uri
from test_browser_page import serve, state, stop, wait
from wire_server import free_port

from examples.app import create_app
from flask_auth_service_mongo.state import get_state


@pytest.fixture
def site(db_name, alice):
    require_browser()
    port = free_port()
    app = create_app(
        {
            "SECRET_KEY": SECRET,
            "MONGODB_URI": database_uri(db_name),
            "AUTH_BCRYPT_ROUNDS": 4,
            "AUTH_WEBAUTHN_RP_ID": "localhost",
            "AUTH_WEBAUTHN_ORIGINS": f"http://localhost:{port}",
        }
    )
    server, thread = serve(app, port)
    yield app, f"http://localhost:{port}"
    stop(server, thread)


def virtual_authenticator(driver, user_verification: bool = True) -> None:
    from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions

    options = VirtualAuthenticatorOptions()
    options.protocol = VirtualAuthenticatorOptions.Protocol.CTAP2
    options.transport = VirtualAuthenticatorOptions.Transport.INTERNAL
    options.has_resident_key = True
    options.has_user_verification = user_verification
    options.is_user_verified = user_verification
    options.is_user_consenting = True
    driver.add_virtual_authenticator(options)


def passkeys(driver) -> list:
    return driver.find_elements("css selector", "#passkeys li.passkey")


def sign_in_with_password(driver, url: str) -> None:
    driver.get(url + "/")
    wait(driver, lambda d: state(d) == "signed-out", "the sign-in form")
    driver.find_element("id", "username").clear()
    driver.find_element("id", "username").send_keys("alice")
    driver.find_element("id", "password").send_keys(PASSWORD)
    driver.find_element("id", "login-button").click()
    wait(driver, lambda d: state(d) == "signed-in", "the signed-in page")


def stored_passkeys(app) -> int:
    with app.app_context():
        return get_state().database["auth_passkey"].count_documents({})


def test_a_passkey_is_added_signs_in_without_a_username_and_is_removed(site, tmp_path):
    app, url = site
    with chromium(tmp_path) as driver:
        virtual_authenticator(driver)
        sign_in_with_password(driver, url)
        driver.find_element("id", "passkey-name").send_keys("CI laptop")
        driver.find_element("id", "add-passkey").click()
        wait(driver, lambda d: len(passkeys(d)) == 1, "the new passkey in the list")
        assert "CI laptop" in passkeys(driver)[0].text
        assert stored_passkeys(app) == 1

        driver.find_element("id", "sign-out").click()
        wait(driver, lambda d: state(d) == "signed-out", "signed out")
        driver.get(url + "/")  # a fresh page: no username typed anywhere
        wait(driver, lambda d: state(d) == "signed-out", "the sign-in form")
        assert driver.find_element("id", "username").get_attribute("value") == ""
        driver.find_element("id", "passkey-sign-in").click()
        wait(driver, lambda d: state(d) == "signed-in", "signed in with the passkey")
        assert driver.find_element("id", "who-name").text == "alice"
        wait(driver, lambda d: len(passkeys(d)) == 1 and "last used" in passkeys(d)[0].text, "the passkey, used")

        passkeys(driver)[0].find_element("css selector", "button.remove-passkey").click()
        wait(driver, lambda d: not passkeys(d), "the passkey removed")
        assert stored_passkeys(app) == 0


def test_an_authenticator_without_user_verification_is_refused(site, tmp_path):
    app, url = site
    with chromium(tmp_path) as driver:
        virtual_authenticator(driver, user_verification=False)
        sign_in_with_password(driver, url)
        driver.find_element("id", "add-passkey").click()
        wait(driver, lambda d: d.find_element("id", "passkey-error").is_displayed(), "the refusal")
        assert not passkeys(driver)
        assert stored_passkeys(app) == 0


def test_a_passkey_serves_as_the_second_step_of_a_password_login(site, tmp_path):
    app, url = site
    with chromium(tmp_path) as driver:
        virtual_authenticator(driver)
        sign_in_with_password(driver, url)
        driver.find_element("id", "add-passkey").click()
        wait(driver, lambda d: len(passkeys(d)) == 1, "the new passkey in the list")
        driver.find_element("id", "sign-out").click()
        wait(driver, lambda d: state(d) == "signed-out", "signed out")
        driver.find_element("id", "username").clear()
        driver.find_element("id", "username").send_keys("alice")
        driver.find_element("id", "password").send_keys(PASSWORD)
        driver.find_element("id", "login-button").click()
        wait(driver, lambda d: d.find_element("id", "mfa-passkey").is_displayed(), "the passkey offered as second step")
        driver.find_element("id", "mfa-passkey").click()
        wait(driver, lambda d: state(d) == "signed-in", "signed in with password and passkey")
        with app.app_context():
            session = get_state().store.sessions.find_one({}, sort=[("created_at", -1)])
        assert (session["amr"], session["acr"]) == (["pwd", "hwk"], "aal2")

"""The example page's second factor in headless Chromium: enrol (QR code,
first code, recovery codes shown once), then sign in with a code and with a
recovery code. pyotp plays the authenticator app."""

from __future__ import annotations

import pytest
from chromium import chromium
from conftest import PASSWORD
from mfa_helpers import Authenticator, database
from test_browser_page import rows, sign_in, site, state, wait  # noqa: F401  (site is a fixture)


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path) as driver:
        yield driver


def step(driver) -> str:
    return driver.find_element("id", "mfa-card").get_attribute("data-step") or ""


def by_id(driver, name):
    return driver.find_element("id", name)


def password_step(driver, site) -> None:  # noqa: F811
    driver.get(site.url + "/")
    wait(driver, lambda d: state(d) == "signed-out", "the sign-in form")
    by_id(driver, "username").send_keys("alice")
    by_id(driver, "password").send_keys(PASSWORD)
    by_id(driver, "login-button").click()
    wait(driver, lambda d: d.find_element("tag name", "body").get_attribute("data-step") == "code", "the code step")


def code_step(driver, code: str) -> None:
    by_id(driver, "mfa-code").send_keys(code)
    by_id(driver, "mfa-button").click()
    wait(driver, lambda d: state(d) == "signed-in" and rows(d), "signed in with the code")


def test_the_page_enrols_totp_and_signs_in_with_a_code_then_a_recovery_code(site, browser, tmp_path):  # noqa: F811
    sign_in(browser, site)
    wait(browser, lambda d: step(d) == "off", "two-step sign-in off")
    by_id(browser, "mfa-begin").click()
    wait(browser, lambda d: step(d) == "scan", "the QR code")
    assert browser.find_elements("css selector", "#mfa-qr svg path")
    authenticator = Authenticator(by_id(browser, "mfa-secret").text)
    browser.save_screenshot(str(tmp_path / "mfa-scan.png"))

    by_id(browser, "mfa-confirm-code").send_keys("000000" if authenticator.code_at(0) != "000000" else "111111")
    by_id(browser, "mfa-confirm").click()
    error = by_id(browser, "mfa-card-error")
    wait(browser, lambda d: error.is_displayed(), "the wrong code refused")
    assert "not right" in error.text and step(browser) == "scan"
    by_id(browser, "mfa-confirm-code").clear()
    by_id(browser, "mfa-confirm-code").send_keys(authenticator.code())
    by_id(browser, "mfa-confirm").click()
    wait(browser, lambda d: step(d) == "codes", "the recovery codes")
    codes = [item.text for item in browser.find_elements("css selector", "#recovery-codes li")]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert by_id(browser, "mfa-secret").text == "" and not browser.find_elements("css selector", "#mfa-qr svg")
    browser.save_screenshot(str(tmp_path / "mfa-codes.png"))
    by_id(browser, "codes-saved").click()
    wait(browser, lambda d: step(d) == "on", "two-step sign-in on")
    assert not browser.find_elements("css selector", "#recovery-codes li")  # shown once
    with site.app.app_context():
        assert database(site.app).auth_factor.count_documents({"confirmed": True}) == 1

    by_id(browser, "sign-out").click()
    wait(browser, lambda d: state(d) == "signed-out", "signed out")
    password_step(browser, site)
    assert state(browser) == "signed-out" and not browser.get_cookies()  # no session before the code
    by_id(browser, "mfa-code").send_keys("12345")
    by_id(browser, "mfa-button").click()
    wait(browser, lambda d: by_id(d, "mfa-error").is_displayed(), "the malformed code refused")
    by_id(browser, "mfa-code").clear()
    code_step(browser, authenticator.code())
    assert step(browser) == "on"
    readable = browser.execute_script("return [document.cookie, JSON.stringify(localStorage)].join(' ')")
    assert "mfa_token" not in readable and readable.endswith(" {}")

    by_id(browser, "sign-out").click()
    wait(browser, lambda d: state(d) == "signed-out", "signed out again")
    password_step(browser, site)
    code_step(browser, codes[0])
    assert by_id(browser, "who-name").text == "alice"

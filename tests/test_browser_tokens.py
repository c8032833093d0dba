"""The account page's personal access tokens, in headless Chromium: a token
created on the page is shown once (not again after a reload), works as a
Bearer token, and its revoke button ends it."""

from __future__ import annotations

import re
import urllib.request

from test_browser_page import browser, sign_in, site, state, status_of, wait  # noqa: F401  (fixtures)

from flask_auth_service_mongo.models import Role

TOKEN = re.compile(r"fasm_pat_[0-9A-Za-z]{43}")


def token_rows(driver) -> list:
    return driver.find_elements("css selector", "#tokens li.token")


def status_with(served, token: str) -> int:
    return status_of(urllib.request.Request(served.url + "/admin/users", headers={"Authorization": f"Bearer {token}"}))


def test_a_token_created_on_the_page_is_shown_once_works_and_is_revoked(site, browser, tmp_path):  # noqa: F811
    with site.app.app_context():
        Role.objects(name="admin").update(set__permissions={"scopes": ["read:users"]})
    sign_in(browser, site)
    assert browser.find_element("id", "no-tokens").is_displayed()
    browser.find_element("id", "token-name").send_keys("nightly build")
    browser.find_element("id", "token-scopes").send_keys("read:users")
    days = browser.find_element("id", "token-days")
    days.clear()
    days.send_keys("7")
    browser.find_element("id", "token-button").click()
    shown = browser.find_element("id", "new-token")
    wait(browser, lambda d: shown.is_displayed() and token_rows(d), "the new token and its row")
    token = browser.find_element("id", "new-token-value").get_attribute("value")
    assert TOKEN.fullmatch(token)
    (row,) = token_rows(browser)
    assert "nightly build" in row.text and "read:users" in row.text and "last used never" in row.text
    assert status_with(site, token) == 200
    readable = browser.execute_script("return [document.cookie, JSON.stringify(localStorage)].join(' ')")
    assert token not in readable
    browser.save_screenshot(str(tmp_path / "tokens.png"))
    print(f"\nscreenshot of the tokens card: {tmp_path / 'tokens.png'}")

    browser.refresh()
    wait(browser, lambda d: state(d) == "signed-in" and token_rows(d), "the page again, with its token row")
    assert not browser.find_element("id", "new-token").is_displayed()
    assert token not in browser.page_source
    assert "last used just now" in token_rows(browser)[0].text

    token_rows(browser)[0].find_element("css selector", "button.revoke-token").click()
    wait(browser, lambda d: not token_rows(d), "the token row gone")
    assert "was revoked" in browser.find_element("id", "notice").text
    assert status_with(site, token) == 401


def test_a_bad_scope_is_explained_on_the_page(site, browser):  # noqa: F811
    sign_in(browser, site)
    browser.find_element("id", "token-name").send_keys("ci")
    browser.find_element("id", "token-scopes").send_keys("admin:everything")
    browser.find_element("id", "token-button").click()
    error = browser.find_element("id", "token-error")
    wait(browser, lambda d: error.is_displayed(), "the error message")
    assert "not granted by your role: admin:everything" in error.text
    assert not token_rows(browser)

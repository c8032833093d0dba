"""The account page's "Recent activity", driven in headless Chromium (see
tests/test_browser_page.py for the set-up)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from chromium import WAIT_SECONDS
from conftest import PASSWORD
from test_browser_page import Site, browser, sign_in, site, wait  # noqa: F401 - the page's fixtures

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def post_login(target: Site, password: str, user_agent: str) -> int:
    request = urllib.request.Request(
        target.url + "/admin/login",
        data=json.dumps({"username": "alice", "password": password}).encode(),
        headers={"Content-Type": "application/json", "User-Agent": user_agent},
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def activity(driver) -> list[str]:
    return [
        row.find_element("css selector", ".device").text for row in driver.find_elements("css selector", "#activity li")
    ]


def test_recent_activity_names_the_browser_and_system_of_each_sign_in(site, browser, tmp_path):  # noqa: F811
    assert post_login(site, "not the password", FIREFOX) == 400
    assert post_login(site, PASSWORD, FIREFOX) == 200
    sign_in(browser, site)
    wait(browser, lambda d: len(activity(d)) == 3, "three events")
    newest, firefox, failed = activity(browser)
    assert newest == "New sign-in from Chrome on Linux"
    assert firefox == "New sign-in from Firefox on Windows"
    assert failed == "Failed sign-in from Firefox on Windows"
    assert "127.0.0.1" in browser.find_element("css selector", "#activity li .meta").text
    browser.save_screenshot(str(tmp_path / "recent-activity.png"))

"""The example's account page at ``/``, driven in headless Chromium.

The app runs under waitress on a free loopback port, in a thread of this
process, with its production cookie settings (``Secure``: browsers accept
them on loopback addresses). Skipped only when no browser is installed, and
never under CI (see tests/chromium.py).
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import waitress
from chromium import WAIT_SECONDS, chromium, require_browser
from conftest import PASSWORD, SECRET, database_uri

from examples.app import create_app
from flask_auth_service_mongo.state import get_state

NEW_PASSWORD = "a brand new secret"


@dataclass
class Site:
    app: object
    url: str

    def sessions(self, user) -> int:
        with self.app.app_context():
            return get_state().store.sessions.count_documents({"user": user.pk})

    def login_status(self, password: str) -> int:
        request = urllib.request.Request(
            self.url + "/admin/login",
            data=json.dumps({"username": "alice", "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        return status_of(request)


def status_of(request: urllib.request.Request) -> int:
    """The HTTP status of the answer to ``request``."""
    try:
        with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def serve(wsgi_app, port: int = 0) -> tuple[object, threading.Thread]:
    server = waitress.create_server(wsgi_app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    return server, thread


def stop(server, thread: threading.Thread) -> None:
    for channel in list(server._map.values()):
        channel.close()
    server.task_dispatcher.shutdown()
    thread.join(WAIT_SECONDS)


@pytest.fixture
def site(db_name, alice) -> Iterator[Site]:
    require_browser()
    app = create_app({"SECRET_KEY": SECRET, "MONGODB_URI": database_uri(db_name), "AUTH_BCRYPT_ROUNDS": 4})
    server, thread = serve(app)
    yield Site(app, f"http://127.0.0.1:{server.effective_port}")
    stop(server, thread)


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path) as driver:
        yield driver


@pytest.fixture
def second_browser(tmp_path):
    with chromium(tmp_path) as driver:
        yield driver


def wait(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS).until(lambda d: condition(d), message=what)


def state(driver) -> str:
    return driver.find_element("tag name", "body").get_attribute("data-state") or ""


def rows(driver) -> list:
    return driver.find_elements("css selector", "#sessions li.session")


def sign_in(driver, site: Site, password: str = PASSWORD) -> None:
    driver.get(site.url + "/")
    wait(driver, lambda d: state(d) == "signed-out", "the sign-in form")
    driver.find_element("id", "username").send_keys("alice")
    driver.find_element("id", "password").send_keys(password)
    driver.find_element("id", "login-button").click()
    wait(driver, lambda d: state(d) == "signed-in" and rows(d), "the signed-in page")


def test_the_account_page_signs_in_lists_revokes_changes_the_password_and_signs_out(
    site, alice, browser, second_browser, tmp_path
):
    sign_in(browser, site)
    (only,) = rows(browser)
    assert only.get_attribute("data-current") == "true" and "This device" in only.text
    assert "127.0.0.1" in only.text and "Chrome" in only.text and "last active just now" in only.text
    assert browser.find_element("id", "who-name").text == "alice"
    # Nothing a script can read holds a token: only the CSRF token is visible.
    cookies = {c["name"]: c for c in browser.get_cookies()}
    assert cookies["access_token"]["httpOnly"] and cookies["refresh_token"]["httpOnly"]
    assert cookies["access_token"]["secure"] and not cookies["csrf_token"]["httpOnly"]
    readable = browser.execute_script(
        "return [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)].join(' ')"
    )
    assert cookies["access_token"]["value"] not in readable and cookies["refresh_token"]["value"] not in readable
    assert readable.startswith("csrf_token=") and readable.endswith(" {} {}")

    sign_in(second_browser, site)
    browser.refresh()
    wait(browser, lambda d: len(rows(d)) == 2, "two sessions")
    screenshot = tmp_path / "account-page.png"
    browser.save_screenshot(str(screenshot))
    print(f"\nscreenshot of the account page: {screenshot}")

    other = next(r for r in rows(browser) if r.get_attribute("data-current") == "false")
    other.find_element("css selector", "button.sign-out-session").click()
    wait(browser, lambda d: len(rows(d)) == 1, "the other session gone")
    assert "That session was signed out." in browser.find_element("id", "notice").text
    assert site.sessions(alice) == 1
    second_browser.refresh()
    wait(second_browser, lambda d: state(d) == "signed-out", "the revoked browser signed out")

    browser.find_element("id", "current-password").send_keys(PASSWORD)
    browser.find_element("id", "new-password").send_keys(NEW_PASSWORD)
    browser.find_element("id", "confirm-password").send_keys(NEW_PASSWORD)
    browser.find_element("id", "password-button").click()
    wait(browser, lambda d: "password was changed" in d.find_element("id", "notice").text, "the password changed")
    assert site.login_status(NEW_PASSWORD) == 200 and site.login_status(PASSWORD) == 400

    browser.find_element("id", "sign-out").click()
    wait(browser, lambda d: state(d) == "signed-out", "the signed-out page")
    assert "You are signed out." in browser.find_element("id", "signed-out-text").text
    assert {c["name"] for c in browser.get_cookies()} == set()
    browser.refresh()
    wait(browser, lambda d: state(d) == "signed-out", "still signed out after a reload")
    browser.save_screenshot(str(tmp_path / "signed-out.png"))
    print(f"screenshot of the signed-out page: {tmp_path / 'signed-out.png'}")


def test_a_wrong_password_shows_an_error_on_the_page(site, browser):
    browser.get(site.url + "/")
    wait(browser, lambda d: state(d) == "signed-out", "the sign-in form")
    browser.find_element("id", "username").send_keys("alice")
    browser.find_element("id", "password").send_keys("wrong password")
    browser.find_element("id", "login-button").click()
    error = browser.find_element("id", "login-error")
    wait(browser, lambda d: error.is_displayed(), "the error message")
    assert error.text == "Wrong username or password." and state(browser) == "signed-out"


@pytest.fixture
def other_origin(site, request) -> Iterator[str]:
    """A page on another origin (another port, on the host ``request.param``)
    that posts a form to the app at once, without the CSRF header (a form
    cannot send one)."""
    page = f"""<!doctype html><html><body>
<form id="f" method="post" enctype="text/plain" action="{site.url}/admin/logout-all">
<input name='{{"x":"' value='y"}}'></form>
<script>document.getElementById("f").submit()</script></body></html>""".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{request.param}:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(WAIT_SECONDS)


@pytest.mark.parametrize(
    "other_origin, answer",
    [
        # Same site, another port: the browser sends the Lax cookies, not the CSRF header.
        ("127.0.0.1", "csrf_failed"),
        # Another site: SameSite=Lax keeps the cookies off the cross-site POST.
        ("localhost", "unauthorized"),
    ],
    indirect=["other_origin"],
)
def test_a_form_posted_from_another_origin_is_refused(site, alice, browser, other_origin, answer):
    sign_in(browser, site)
    browser.get(other_origin)
    wait(browser, lambda d: d.current_url.startswith(site.url + "/admin/"), "the form posted")
    assert json.loads(browser.find_element("tag name", "body").text) == {"message": answer}
    assert site.sessions(alice) == 1
    browser.get(site.url + "/")
    wait(browser, lambda d: state(d) == "signed-in" and len(rows(d)) == 1, "still signed in")


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def horizontal_overflow(driver) -> int:
    """How many CSS pixels the page is wider than the screen."""
    return driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("width", [360, 430])
def test_on_a_phone_the_page_fits_the_screen_and_a_signed_out_load_logs_no_error(site, browser, width):
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": width, "height": 800, "deviceScaleFactor": 2, "mobile": True}
    )
    browser.get(site.url + "/")
    wait(browser, lambda d: state(d) == "signed-out", "the sign-in form")
    assert console_errors(browser) == []
    assert horizontal_overflow(browser) <= 0
    browser.find_element("id", "username").send_keys("alice")
    browser.find_element("id", "password").send_keys(PASSWORD)
    browser.find_element("id", "login-button").click()
    wait(browser, lambda d: state(d) == "signed-in" and rows(d), "the signed-in page")
    assert horizontal_overflow(browser) <= 0
    assert browser.execute_script("return window.innerWidth") == width


def test_a_missing_browser_skips_here_and_fails_under_ci(monkeypatch):
    import chromium as helper

    monkeypatch.setattr(helper, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="/nonexistent/chromium not installed"):
        helper.require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="browser tests cannot run in CI"):
        helper.require_browser()


@pytest.mark.slow
def test_the_configuration_table_of_the_docs_fits_a_1280_px_window(tmp_path, browser):
    import subprocess
    import sys

    from wire_server import ROOT

    built = tmp_path / "html"
    args = [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(ROOT / "docs"), str(built)]
    subprocess.run(args, check=True, capture_output=True, timeout=300)
    browser.set_window_size(1280, 900)
    browser.get((built / "configuration.html").as_uri())
    table = browser.find_element("css selector", "table.docutils")
    assert table.find_elements("xpath", ".//code[contains(., 'AUTH_SESSION_CACHE_MAX_LAG_MS')]")
    assert horizontal_overflow(browser) <= 0
    # Every cell's text within the text column, not only the window.
    column = browser.find_element("css selector", "div.body")
    right = browser.execute_script(
        "return Math.max(...[...arguments[0].querySelectorAll('*')].map((e) => e.getBoundingClientRect().right))",
        table,
    )
    assert right <= browser.execute_script("return arguments[0].getBoundingClientRect().right", column) + 1

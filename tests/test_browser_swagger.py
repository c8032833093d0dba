"""The example's Swagger UI, end to end in headless Chromium: log in with
"Try it out", authorize with the token, call /admin/me and get a 200.

The app takes tokens from the header only (conftest's default), so a 200 can
only come from the token given to "Authorize"."""

import contextlib
import json

import pytest
from chromium import WAIT_SECONDS, chromium
from conftest import PASSWORD
from wire_server import AppThread


@pytest.fixture
def served(make_app, make_user):
    """The example app under waitress on a free loopback port, with alice."""
    make_user()
    with AppThread(make_app()) as served:
        yield served


@contextlib.contextmanager
def screenshot_after(browser, path):
    """Save what the page shows at the end, passed or failed."""
    try:
        yield
    finally:
        browser.save_screenshot(str(path))


def test_swagger_ui_logs_in_authorizes_and_calls_a_guarded_operation(served, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(tmp_path) as browser, screenshot_after(browser, tmp_path / "swagger.png"):
        wait = WebDriverWait(browser, WAIT_SECONDS)

        def find(css: str, parent=None):
            return wait.until(lambda _: (parent or browser).find_element(By.CSS_SELECTOR, css), f"no {css}")

        def click(css: str, parent=None):
            element = find(css, parent)
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
            wait.until(seen.element_to_be_clickable(element), f"{css} cannot be clicked").click()

        def execute(operation_id: str, body: dict = None):
            """Try the operation out; its (status, JSON body) as Swagger UI shows them."""
            tag = "sign-in" if operation_id == "post_api_login" else "account"
            operation = find(f"#operations-{tag}-{operation_id}")
            click(".opblock-summary", operation)
            click(".try-out__btn", operation)
            if body is not None:
                editor = find("textarea.body-param__text", operation)
                editor.clear()
                editor.send_keys(json.dumps(body))
            click("button.execute", operation)
            status = find(".live-responses-table .response .response-col_status", operation)
            text = find(".live-responses-table .response-col_description pre.microlight", operation)
            wait.until(lambda _: text.text.strip(), "no response body")
            return int(status.text.strip()), json.loads(text.text)

        browser.get(served.url + "/admin/docs")
        # The Swagger UI assets are flask-restx's own, served by the app.
        scripts = [s.get_attribute("src") for s in browser.find_elements(By.CSS_SELECTOR, "script[src]")]
        assert scripts and all(src.startswith(served.url + "/") for src in scripts), scripts
        # The operations are grouped by namespace, sign-in first; each group
        # starts folded.
        click("#operations-tag-sign-in")
        tags = [tag.text for tag in browser.find_elements(By.CSS_SELECTOR, ".opblock-tag")]
        assert tags[0].startswith("sign-in") and not any(tag.startswith("default") for tag in tags), tags
        click("#operations-tag-account")

        status, answer = execute("post_api_login", {"username": "alice", "password": PASSWORD})
        assert status == 200, answer
        token = answer["data"]["access_token"]
        # Not authorized yet: the guarded operations answer 401.
        assert execute("get_api_sessions")[0] == 401

        click("button.btn.authorize")
        find(".modal-ux input[type=text]").send_keys(f"Bearer {token}")
        click(".modal-ux .auth-btn-wrapper button.authorize")
        click(".modal-ux button.btn-done")

        status, answer = execute("get_api_me")
        assert (status, answer) == (200, {"message": "ok", "data": {"username": "alice", "role": "admin"}})

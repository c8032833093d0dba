"""The command-line guide runs as written against a MongoDB server, and the
user it creates logs in to the example app started on that database."""

import os
import shutil

import pytest
from conftest import database_uri, wire_only
from test_docs_commands import run_page
from wire_server import ROOT, AppProcess

pytestmark = [wire_only, pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")]
SECRET_KEY = "a secret key of at least thirty-two bytes"


def test_the_cli_guide_creates_a_user_who_logs_in(db_name, tmp_path):
    uri = database_uri(db_name)
    run_page("cli.rst", {**os.environ, "MONGODB_URI": uri, "SECRET_KEY": SECRET_KEY}, ROOT)
    app = AppProcess(tmp_path / "app.log", {"MONGODB_URI": uri, "SECRET_KEY": SECRET_KEY})
    app.start()
    try:
        status, body = app.call("POST", "/admin/login", {"username": "alice", "password": "a long password"})
    finally:
        app.stop()
    assert status == 200, body
    assert body["data"]["role"] == "admin"

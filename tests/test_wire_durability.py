"""On the wire: the write commands that decide access carry w="majority", j=True."""

import pytest
from conftest import bearer, wire_only
from pymongo import monitoring

JOURNALED = {"w": "majority", "j": True}


class WriteConcerns(monitoring.CommandListener):
    """The write concern of every write command, by (command, collection)."""

    def __init__(self):
        self.seen = []

    def started(self, event):
        if event.command_name in ("insert", "update", "delete", "findAndModify"):
            self.seen.append((event.command_name, event.command[event.command_name], event.command.get("writeConcern")))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture(scope="module")
def write_concerns():
    listener = WriteConcerns()
    monitoring.register(listener)
    return listener


@wire_only
def test_login_refresh_logout_and_user_changes_send_journaled_majority_writes(write_concerns, make_app, make_user):
    app = make_app()  # its client is created after the listener
    write_concerns.seen.clear()
    user = make_user()
    client = app.test_client()
    pair = client.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]
    pair = client.post("/admin/refresh", json={"refresh_token": pair["refresh_token"]}).json["data"]
    client.post("/admin/logout", headers=bearer(pair["token"]))
    user.active = False
    user.save()
    deciding = [(name, coll, wc) for name, coll, wc in write_concerns.seen if coll in ("session", "user", "role")]
    assert {(name, coll) for name, coll, _ in deciding} >= {
        ("insert", "session"),
        ("findAndModify", "session"),
        ("delete", "session"),
        ("insert", "user"),
        ("update", "user"),
    }
    for name, coll, concern in deciding:
        assert concern == JOURNALED, (name, coll, concern)

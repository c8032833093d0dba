"""AUTH_SESSION_CACHE where change streams do not exist (mongomock): one
warning at start-up, then strict reads; and the guarded fills of the caches.

The cache itself is exercised on the wire server (tests/test_wire_session_cache.py).
"""

import logging

import pytest
from conftest import SERVER_URI, bearer

from flask_auth_service_mongo.cache import GuardedLRU

WARNING = "AUTH_SESSION_CACHE is off: mongomock has no change streams"
mongomock_only = pytest.mark.skipif(bool(SERVER_URI), reason="the wire server has change streams")


@mongomock_only
def test_on_mongomock_the_cache_warns_once_at_start_up_and_stays_off(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="flask_auth_service_mongo"):
        app = make_app(AUTH_SESSION_CACHE=True)
    assert [record.getMessage() for record in caplog.records] == [WARNING]
    assert app.config["AUTH_SESSION_CACHE"] is True


@mongomock_only
def test_on_mongomock_with_the_cache_asked_a_logout_is_refused_at_once(make_app, make_user, caplog):
    app = make_app(AUTH_SESSION_CACHE=True)
    client = app.test_client()
    make_user()
    token = client.post("/admin/login", json={"username": "alice", "password": "correct horse"}).json["data"]["token"]
    assert client.get("/admin/me", headers=bearer(token)).status_code == 200
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flask_auth_service_mongo"):
        assert client.post("/admin/logout", headers=bearer(token)).status_code == 200
        response = client.get("/admin/me", headers=bearer(token))
    assert (response.status_code, response.json) == (401, {"message": "unauthorized"})
    assert caplog.records == []


def test_a_fill_announced_before_an_eviction_does_not_land():
    cache = GuardedLRU(10)
    token = cache.begin("session")
    cache.evict("session")  # a change arrived while the read was in flight
    assert cache.fill("session", token, {"read": "before the change"}) is False
    assert cache.get("session") is None


def test_a_fill_announced_before_a_clear_or_a_user_wide_eviction_does_not_land():
    cache = GuardedLRU(10)
    first, second = cache.begin("a"), cache.begin("b")
    cache.clear()
    assert cache.fill("a", first, 1) is False
    cache.evict_where(lambda key, value: False)
    assert cache.fill("b", second, 2) is False
    assert len(cache) == 0


def test_concurrent_fills_of_one_key_land_once_and_never_after_an_eviction():
    cache = GuardedLRU(10)
    first, second = cache.begin("s"), cache.begin("s")
    assert cache.fill("s", first, "one") is True
    cache.evict("s")
    assert cache.fill("s", second, "stale") is False
    assert cache.get("s") is None


def test_the_least_recently_used_entry_goes_first():
    cache = GuardedLRU(2)
    for key in "abc":
        if key == "c":
            cache.get("a")
        cache.fill(key, cache.begin(key), key.upper())
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")

"""Writes that decide access are journaled majority writes; access is read on the primary."""

import pymongo

from flask_auth_service_mongo.state import get_state

JOURNALED = {"w": "majority", "j": True}


def test_the_session_store_writes_journaled_and_reads_the_primary(app):
    with app.app_context():
        collection = get_state().store.sessions
        assert collection.write_concern.document == JOURNALED
        assert collection.read_preference == pymongo.ReadPreference.PRIMARY

"""The MongoDB connection and the rules every access-deciding write follows."""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator, Optional

import mongoengine
from mongoengine.errors import NotUniqueError, OperationError
from pymongo import ReadPreference
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError
from pymongo.write_concern import WriteConcern

from .errors import ServiceUnavailable

#: A document as pymongo reads and writes it.
RawDocument = dict[str, Any]
#: Writes that decide access survive a crash or a failover once answered.
JOURNALED_OPTIONS: dict[str, Any] = {"w": "majority", "j": True}
JOURNALED = WriteConcern(**JOURNALED_OPTIONS)
#: For bookkeeping that decides nothing (the last use of a session).
ACKNOWLEDGED = WriteConcern(w=1)
#: Access is always decided on the primary's view of the data.
PRIMARY = ReadPreference.PRIMARY
MOCK_SCHEME = "mongomock://"


_handles: dict[str, tuple[Database[RawDocument], Collection[RawDocument]]] = {}


def access_collection(name: str) -> Collection[RawDocument]:
    """Collection ``name`` of the models' database, with journaled majority
    writes and primary reads (the handle is kept while the database is)."""
    db = mongoengine.get_db()
    handle = _handles.get(name)
    if handle is None or handle[0] is not db:
        handle = _handles[name] = (db, db.get_collection(name, write_concern=JOURNALED, read_preference=PRIMARY))
    return handle[1]


def connect(uri: str, timeout_ms: int) -> None:
    """(Re)connect mongoengine's default alias to ``uri``.

    mongoengine keeps one registry per process, so the last application
    initialised decides the database of the models (one database a process).
    """
    mongoengine.disconnect()
    if uri.startswith(MOCK_SCHEME):
        host = "mongodb://" + uri[len(MOCK_SCHEME) :]
        mongoengine.connect(host=host, mongo_client_class=in_memory_client_class(), uuidRepresentation="standard")
        return
    mongoengine.connect(
        host=uri,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
    )


@functools.cache
def in_memory_client_class() -> type:
    """A mongomock client whose instances share one in-memory server, like
    clients of one real server do (so several apps in a process share data)."""
    try:
        import mongomock
        from mongomock.store import ServerStore
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError("MONGODB_URI uses mongomock://, but mongomock is not installed") from None
    store = ServerStore()  # type: ignore[no-untyped-call]

    class InMemoryClient(mongomock.MongoClient):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("_store", store)
            super().__init__(*args, **kwargs)

    return InMemoryClient


def database_failure(error: BaseException) -> Optional[PyMongoError]:
    """The driver's error when ``error`` is MongoDB failing, also when
    mongoengine wrapped it (its OperationError keeps it as ``__context__``)."""
    if isinstance(error, PyMongoError):
        return error
    wrapped = error.__context__
    if isinstance(error, OperationError) and not isinstance(error, NotUniqueError):
        return wrapped if isinstance(wrapped, PyMongoError) else None
    return None


@contextlib.contextmanager
def unavailable_on_error() -> Iterator[None]:
    """Turn any database failure into a 503: an unanswered check never passes."""
    try:
        yield
    except (PyMongoError, OperationError) as error:
        if database_failure(error) is None:
            raise
        raise ServiceUnavailable() from error

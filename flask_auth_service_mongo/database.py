"""The MongoDB connection and the rules every access-deciding write follows."""

from __future__ import annotations

import functools
import os
from typing import Any, NoReturn, Optional

import mongoengine
from flask import has_app_context
from mongoengine.errors import NotUniqueError, OperationError
from pymongo import MongoClient, ReadPreference
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError
from pymongo.write_concern import WriteConcern

from .errors import ServiceUnavailable
from .state import current_app_state

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


def open_database(uri: str, timeout_ms: int) -> Database[RawDocument]:
    """The database of ``uri`` through a client of this process (one per URI
    and timeout, shared by the apps that name it; a new one after a fork)."""
    key = (uri, timeout_ms, os.getpid())
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = _new_client(uri, timeout_ms)
    database: Database[RawDocument] = client.get_database(uri_database_name(uri))
    return database


_clients: dict[tuple[str, int, int], Any] = {}


def close_clients() -> None:
    """Close every client this process opened (their connections, and the
    session cache threads that read through them). The apps that used them
    are done: a test's teardown, a process shutting down."""
    while _clients:
        _clients.popitem()[1].close()


def uri_database_name(uri: str) -> str:
    """The database a (validated) ``MONGODB_URI`` names."""
    address = uri[len(MOCK_SCHEME) :] if uri.startswith(MOCK_SCHEME) else uri.split("://", 1)[1]
    return address.split("?", 1)[0].split("/", 1)[1]


def _new_client(uri: str, timeout_ms: int) -> Any:
    if uri.startswith(MOCK_SCHEME):
        return in_memory_client_class()("mongodb://" + uri[len(MOCK_SCHEME) :], uuidRepresentation="standard")
    return MongoClient(
        uri,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
    )


def current_database() -> Database[RawDocument]:
    """The database of the current app, else (a script, outside any app)
    mongoengine's default one."""
    state = current_app_state() if has_app_context() else None
    if state is not None:
        return state.database
    database: Database[RawDocument] = mongoengine.get_db()
    return database


def access_collection(name: str) -> Collection[RawDocument]:
    """Collection ``name`` of the current database, with journaled majority
    writes and primary reads."""
    return journaled(current_database(), name)


def journaled(database: Database[RawDocument], name: str) -> Collection[RawDocument]:
    """Collection ``name`` with journaled majority writes and primary reads."""
    return database.get_collection(name, write_concern=JOURNALED, read_preference=PRIMARY)


def connect_default(uri: str, timeout_ms: int) -> None:
    """Point mongoengine's default alias at ``uri``: what the models use
    outside any application (a script); inside one, each app's own database."""
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
        raise RuntimeError(
            "MONGODB_URI uses mongomock://, the in-memory backend, but mongomock is not installed: "
            "pip install 'flask-auth-service-mongo[mongomock]' (or point MONGODB_URI at a MongoDB server)"
        ) from None
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


#: What a failing database raises (mongoengine wraps some of the driver's errors).
DATABASE_ERRORS = (PyMongoError, OperationError)


def raise_unavailable(error: BaseException) -> NoReturn:
    """Raise ServiceUnavailable for a database failure, else ``error`` itself
    (for a handler of ``DATABASE_ERRORS``: the guard's, without a context manager)."""
    if database_failure(error) is not None:
        raise ServiceUnavailable() from error
    raise error


class _Unavailable:
    """``unavailable_on_error``'s context manager: stateless, so one serves
    every thread (cheaper than a generator on the hot path)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Optional[type], error: Optional[BaseException], traceback: Any) -> None:
        if isinstance(error, DATABASE_ERRORS):
            raise_unavailable(error)


_UNAVAILABLE = _Unavailable()


def unavailable_on_error() -> _Unavailable:
    """Turn any database failure into a 503: an unanswered check never passes."""
    return _UNAVAILABLE

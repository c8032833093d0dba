"""MongoDB documents: ``role`` and ``user`` as 0.1.8 wrote them, plus
``session`` and ``user_meta`` (what we know about a user beyond 0.1.8's fields).

``role`` and ``user`` documents get exactly 0.1.8's fields, whatever writes
them, so that 0.1.8 (whose models are strict) still reads them after a rollback.

Inside an application every document reads and writes that application's
``MONGODB_URI`` (several apps in one process never cross); outside any app
(a script) mongoengine's default connection. Saving or deleting users
through these classes sends mongoengine's signals, on which ``propagation``
ends the sessions a change revokes; the session check itself reads the
user and role as they are now, however they were written.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Optional

from bson import SON, ObjectId
from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    DoesNotExist,
    ObjectIdField,
    ReferenceField,
    StringField,
    signals,
)
from mongoengine.base import BaseDocument
from pymongo.collection import Collection
from pymongo.database import Database

from .clock import utcnow
from .database import JOURNALED, JOURNALED_OPTIONS, PRIMARY, RawDocument, current_database
from .errors import PolicyError
from .records import PlainUser, SessionRecord, expand_user

SESSIONS = "session"

MAX_USERNAME_LENGTH = 256
#: The fields 0.1.8 reads in ``user`` and ``role`` documents, and no others.
LEGACY_USER_FIELDS = frozenset({"_id", "username", "password", "active", "change_password", "role"})
LEGACY_ROLE_FIELDS = frozenset({"_id", "name", "permissions"})


def canonical_username(raw: str) -> str:
    """Usernames are stored and looked up trimmed and lower-case."""
    return raw.strip().lower()


def normalize_username(raw: str, min_length: int) -> str:
    """The stored form of a new username, or PolicyError."""
    username = canonical_username(raw)
    if len(username) < min_length:
        raise PolicyError("username_too_short", f"the username needs at least {min_length} characters")
    if len(username) > MAX_USERNAME_LENGTH or any(c.isspace() or c == "\x00" for c in username):
        raise PolicyError(
            "username_invalid", f"the username must be at most {MAX_USERNAME_LENGTH} characters, without spaces"
        )
    return username


class _NoDynamicFields(SON[str, Any]):
    """An empty SON that stays empty: the ``_dynamic_fields`` shared by the
    users ``User._built`` makes (mongoengine writes them only for dynamic
    documents, which ``User`` is not)."""

    def __setitem__(self, key: str, value: Any) -> None:
        raise TypeError("User is not a dynamic document")


_NO_DYNAMIC_FIELDS = _NoDynamicFields()

#: Setters of a document's slots past ``BaseDocument.__setattr__`` (as its
#: constructor's first steps), for ``User._built``: cheaper than ``object.__setattr__``.
_SLOTS = ("_created", "_changed_fields", "_dynamic_fields", "_data", "_initialised")
_set_created, _set_changed_fields, _set_dynamic_fields, _set_data, _set_initialised = (
    vars(BaseDocument)[name].__set__ for name in _SLOTS
)


class AppDocument(Document):
    """A document kept in the current app's database (see the module)."""

    meta: dict[str, Any] = {"abstract": True}

    @classmethod
    def _get_db(cls) -> Database[RawDocument]:
        return current_database()

    @classmethod
    def _get_collection(cls) -> Collection[RawDocument]:
        return current_database()[cls._get_collection_name()]


class Role(AppDocument):
    """A named role; ``permissions`` is free-form, as in 0.1.8."""

    name = StringField(required=True, unique=True)
    permissions = DictField(required=False)

    meta = {"collection": "role", "strict": False}

    def save(self, *args: Any, **kwargs: Any) -> Role:
        kwargs.setdefault("write_concern", JOURNALED_OPTIONS)
        super().save(*args, **kwargs)
        return self

    def delete(self, *args: Any, **kwargs: Any) -> None:
        super().delete(*args, **{**JOURNALED_OPTIONS, **kwargs})

    def __str__(self) -> str:
        return str(self.name)


class PreloadedReferenceField(ReferenceField):
    """A ``ReferenceField`` whose document may come with its owner's read (put
    in the owner's ``__dict__`` under ``preloaded_key``): built from it on
    first access, never read again."""

    @functools.cached_property
    def preloaded_key(self) -> str:
        return "_preloaded_" + str(self.name)

    def discard(self, instance: Document) -> None:
        vars(instance).pop(self.preloaded_key, None)

    def __get__(self, instance: Optional[Document], owner: Any) -> Any:
        if instance is not None:
            stored = vars(instance).pop(self.preloaded_key, None)
            if stored is not None and not isinstance(instance._data.get(self.name), Document):
                instance._data[self.name] = self.document_type._from_son(stored)
        return super().__get__(instance, owner)

    def __set__(self, instance: Document, value: Any) -> None:
        self.discard(instance)
        super().__set__(instance, value)


class User(AppDocument):
    """An account. ``password`` is a bcrypt hash; ``role`` a DBRef to ``role``."""

    username = StringField(required=True, unique=True)
    password = StringField(required=True)
    active = BooleanField(default=True)
    change_password = BooleanField(default=False)
    role = PreloadedReferenceField(Role, dbref=True, required=True)

    meta = {"collection": "user", "strict": False}

    def clean(self) -> None:
        if self.username:
            self.username = canonical_username(self.username)

    @classmethod
    def find_by_username(cls, username: str) -> Optional[User]:
        """The user of that login name (any case), read on the primary."""
        user: Optional[User] = cls.objects(username=canonical_username(username)).read_preference(PRIMARY).first()
        return user

    @classmethod
    def from_record(cls, record: SessionRecord) -> User:
        """The user a session record holds (its role's document, already read,
        built when first used, with no second read), a new object for each
        caller: what ``_from_son`` makes of the stored document."""
        compact = record.user
        if cls is User and type(compact) is PlainUser:
            username, password, active, change_password, role = compact
            # As mongoengine holds them: defaults for the flags not stored.
            fields = {
                "id": record.user_id,
                "username": username,
                "password": password,
                "active": active is not False,
                "change_password": change_password is True,
                "role": role,
            }
            user = cls._built(fields)
        else:
            user = cls._from_son(expand_user(record.user_id, compact))
        if record.role_document is not None:
            user.__dict__[_PRELOADED_ROLE] = record.role_document
        return user

    @classmethod
    def _built(cls, data: dict[str, Any]) -> User:
        """A user of ``data``, set directly rather than through mongoengine's
        generic constructor (``current_user()`` builds one a request; several
        times faster). The init signals are sent as the constructor sends them."""
        user = object.__new__(cls)
        _set_created(user, False)
        _set_changed_fields(user, [])
        if signals.pre_init.receivers:
            _set_initialised(user, False)
            _set_data(user, {})
            signals.pre_init.send(cls, document=user, values=data)
        _set_dynamic_fields(user, _NO_DYNAMIC_FIELDS)
        _set_data(user, data)
        user.__dict__["_cls"] = cls._class_name
        _set_initialised(user, True)
        if signals.post_init.receivers:
            signals.post_init.send(cls, document=user)
        return user

    def reload(self, *fields: str, **kwargs: Any) -> User:
        type(self).role.discard(self)  # the role is read again
        super().reload(*fields, **kwargs)
        return self

    @classmethod
    def find_active(cls, user_id: ObjectId) -> Optional[User]:
        """The active user of that id, read on the primary; None otherwise."""
        user: Optional[User] = cls.objects(pk=user_id, active__ne=False).read_preference(PRIMARY).first()
        return user

    def swap_password(self, new_hash: str, **fields: Any) -> bool:
        """Store ``new_hash`` (and ``fields``) only if the stored hash is still
        the one loaded; False when a concurrent change won. No session ends,
        and none goes on unless through ``SessionStore.swap_password``."""
        users = self._get_collection().with_options(write_concern=JOURNALED)
        updated = users.update_one(
            {"_id": self.pk, "password": self.password}, {"$set": {"password": new_hash, **fields}}
        )
        if updated.modified_count != 1:
            return False
        self.password = new_hash
        for name, value in fields.items():
            setattr(self, name, value)
        self._clear_changed_fields()
        return True

    @property
    def role_name(self) -> Optional[str]:
        """The name of the user's role; None when it was deleted."""
        try:
            role = self.role
        except DoesNotExist:
            return None
        return role.name if isinstance(role, Role) else None

    @property
    def role_id(self) -> Optional[ObjectId]:
        """The id the ``role`` reference points at, without loading the role."""
        return getattr(self._data.get("role"), "id", None)

    def save(self, *args: Any, **kwargs: Any) -> User:
        kwargs.setdefault("write_concern", JOURNALED_OPTIONS)
        created = self.pk is None
        super().save(*args, **kwargs)
        if created:
            UserMeta(id=self.pk, created_at=utcnow()).save()
        return self

    def delete(self, *args: Any, **kwargs: Any) -> None:
        super().delete(*args, **{**JOURNALED_OPTIONS, **kwargs})
        UserMeta.objects(id=self.pk).delete()

    def creation_time(self) -> Optional[datetime]:
        """When the user was created (see ``creation_times``)."""
        return creation_times([self.pk]).get(self.pk)

    def __str__(self) -> str:
        return str(self.username)


#: Where ``User.role`` finds a preloaded role document in a user.
_PRELOADED_ROLE = User._fields["role"].preloaded_key


class UserMeta(AppDocument):
    """What we know about a user beyond 0.1.8's fields, keyed by the user's id."""

    id = ObjectIdField(primary_key=True)
    created_at = DateTimeField()

    meta = {"collection": "user_meta", "strict": False}


class Session(AppDocument):
    """One login and its refreshes. MongoDB drops it once ``expires_at`` passes."""

    id = StringField(primary_key=True)
    user = ReferenceField(User, dbref=False, required=True)
    role = StringField()
    change_password = BooleanField(default=False)
    refresh_jti = StringField(required=True)
    prev_refresh_jti = StringField()
    rotated_at = DateTimeField()
    created_at = DateTimeField(required=True)
    last_used_at = DateTimeField()
    authenticated_at = DateTimeField()
    expires_at = DateTimeField(required=True)
    ip = StringField()
    user_agent = StringField()

    meta = {
        "collection": SESSIONS,
        "strict": False,
        "indexes": [
            {"fields": ["user", "-created_at"]},
            {"fields": ["expires_at"], "expireAfterSeconds": 0},
        ],
    }


def creation_times(user_ids: list[ObjectId]) -> dict[ObjectId, datetime]:
    """When each user was created: from ``user_meta``, else (users created by
    0.1.8) the time in the user's ObjectId; naive UTC, as MongoDB stores times."""
    ids = [pk for pk in user_ids if isinstance(pk, ObjectId)]
    found = {meta.id: meta.created_at for meta in UserMeta.objects(id__in=ids).only("created_at")}
    return {pk: found.get(pk) or pk.generation_time.replace(tzinfo=None) for pk in ids}


def ensure_indexes() -> None:
    """Create the unique usernames, role names and the session indexes."""
    for document in (Role, User, Session):
        document.ensure_indexes()

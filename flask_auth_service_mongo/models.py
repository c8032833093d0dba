"""MongoDB documents: ``role`` and ``user`` as 0.1.8 wrote them, plus ``session``.

Saving or deleting users and roles through these classes pushes the change
into the affected sessions, so it is seen on the very next request.
"""

from __future__ import annotations

from typing import Optional

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    DoesNotExist,
    ReferenceField,
    StringField,
)

from . import sessions
from .database import JOURNALED, JOURNALED_OPTIONS

MAX_USERNAME_LENGTH = 256


class UsernamePolicyError(ValueError):
    """A new username breaks the policy; ``code`` is machine-readable."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code


def normalize_username(raw: str, min_length: int) -> str:
    """The stored form of a new username (lower-case), or UsernamePolicyError."""
    username = raw.strip().lower()
    if len(username) < min_length:
        raise UsernamePolicyError("username_too_short", f"the username needs at least {min_length} characters")
    if len(username) > MAX_USERNAME_LENGTH or any(c.isspace() or c == "\x00" for c in username):
        raise UsernamePolicyError(
            "username_invalid", f"the username must be at most {MAX_USERNAME_LENGTH} characters, without spaces"
        )
    return username


class Role(Document):
    """A named role; ``permissions`` is free-form, as in 0.1.8."""

    name = StringField(required=True, unique=True)
    permissions = DictField(required=False)

    meta = {"collection": "role", "strict": False}

    def save(self, *args, **kwargs):
        kwargs.setdefault("write_concern", JOURNALED_OPTIONS)
        old_name = None
        if self.pk is not None and "name" in self._get_changed_fields():
            previous = Role.objects(pk=self.pk).only("name").first()
            old_name = previous.name if previous else None
        result = super().save(*args, **kwargs)
        if old_name:
            sessions.rename_role(old_name, self.name)
        return result

    def delete(self, *args, **kwargs):
        super().delete(*args, **{**JOURNALED_OPTIONS, **kwargs})
        sessions.rename_role(self.name, None)

    def __str__(self) -> str:
        return self.name


class User(Document):
    """An account. ``password`` is a bcrypt hash; ``role`` a DBRef to ``role``."""

    username = StringField(required=True, unique=True)
    password = StringField(required=True)
    active = BooleanField(default=True)
    change_password = BooleanField(default=False)
    role = ReferenceField(Role, dbref=True, required=True)
    created_at = DateTimeField()

    meta = {"collection": "user", "strict": False}

    def clean(self) -> None:
        if self.username:
            self.username = self.username.lower()

    @property
    def role_name(self) -> Optional[str]:
        """The name of the user's role; None when it was deleted."""
        try:
            role = self.role
        except DoesNotExist:
            return None
        return role.name if isinstance(role, Role) else None

    @property
    def role_id(self):
        """The id the ``role`` reference points at, without loading the role."""
        return getattr(self._data.get("role"), "id", None)

    def save(self, *args, **kwargs):
        kwargs.setdefault("write_concern", JOURNALED_OPTIONS)
        existing = self.pk is not None
        ends_sessions = existing and (not self.active or "password" in self._get_changed_fields())
        if ends_sessions:
            # Before the write too: one that fails half-way leaves no session.
            sessions.end_all(self.pk)
        if self.created_at is None:
            self.created_at = sessions.utcnow()
        result = super().save(*args, **kwargs)
        if ends_sessions:
            sessions.end_all(self.pk)  # and none opened by a login racing it
        elif existing:
            sessions.update_user_state(self.pk, {"role": self.role_name, "change_password": self.change_password})
        return result

    def delete(self, *args, **kwargs):
        sessions.end_all(self.pk)
        super().delete(*args, **{**JOURNALED_OPTIONS, **kwargs})
        sessions.end_all(self.pk)

    def replace_password(self, new_hash: str, keep_session: str) -> bool:
        """The user's own password change: store ``new_hash``, clear
        ``change_password`` and end every session but ``keep_session``.

        Only if the stored hash is still the one loaded; False otherwise
        (a concurrent change won).
        """
        sessions.end_all(self.pk, keep=keep_session)
        users = self._get_collection().with_options(write_concern=JOURNALED)
        updated = users.update_one(
            {"_id": self.pk, "password": self.password}, {"$set": {"password": new_hash, "change_password": False}}
        )
        if updated.modified_count != 1:
            return False
        self.password, self.change_password = new_hash, False
        self._clear_changed_fields()
        sessions.end_all(self.pk, keep=keep_session)
        sessions.update_user_state(self.pk, {"change_password": False})
        return True

    def __str__(self) -> str:
        return self.username


class Session(Document):
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
    expires_at = DateTimeField(required=True)
    ip = StringField()
    user_agent = StringField()

    meta = {
        "collection": sessions.COLLECTION,
        "strict": False,
        "indexes": [
            {"fields": ["user", "-created_at"]},
            {"fields": ["expires_at"], "expireAfterSeconds": 0},
        ],
    }


def ensure_indexes() -> None:
    """Create the unique usernames, role names and the session indexes."""
    for document in (Role, User, Session):
        document.ensure_indexes()

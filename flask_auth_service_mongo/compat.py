"""What 0.1.8 could not read in the ``user`` and ``role`` collections, and the repair.

0.1.8's mongoengine models are strict: a ``user`` or ``role`` document with a
field they do not declare makes every read of it fail. ``created_at`` (which
an earlier release of this version wrote on users) moves into ``user_meta``;
``_cls`` (mongoengine's own) is dropped; any other extra field is reported
for a person to decide about, never deleted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .database import RawDocument, access_collection
from .models import LEGACY_ROLE_FIELDS, LEGACY_USER_FIELDS, Role, User, UserMeta

#: Extra fields ``fix`` knows what to do with.
MOVED_TO_META = ("created_at",)
DROPPED = ("_cls",)


@dataclass
class Report:
    """Extra fields found, counted per ``(collection, field)``."""

    extra: Counter[tuple[str, str]] = field(default_factory=Counter)
    fixed: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.extra

    def lines(self) -> list[str]:
        found = [
            f"{count} {collection} document(s) with field {name!r}: {what_to_do(collection, name)}"
            for (collection, name), count in sorted(self.extra.items())
        ]
        done = [
            f"fixed: field {name!r} of {count} {collection} document(s)"
            for (collection, name), count in sorted(self.fixed.items())
        ]
        return done + found


def what_to_do(collection: str, name: str) -> str:
    if collection == "user" and name in MOVED_TO_META:
        return "--fix moves it into user_meta"
    if name in DROPPED:
        return "--fix removes it"
    return "0.1.8 cannot read these documents; remove the field by hand once you know what wrote it"


def fixable(collection: str, name: str) -> bool:
    return (collection == "user" and name in MOVED_TO_META) or name in DROPPED


def check(fix: bool = False) -> Report:
    """Scan ``user`` and ``role``; with ``fix``, repair what can be repaired."""
    report = Report()
    for document, allowed in ((User, LEGACY_USER_FIELDS), (Role, LEGACY_ROLE_FIELDS)):
        name = document._meta["collection"]
        documents = access_collection(name)
        for stored in documents.find({}):
            for extra in sorted(set(stored) - allowed):
                if fix and fixable(name, extra):
                    repair(name, stored, extra)
                    report.fixed[name, extra] += 1
                else:
                    report.extra[name, extra] += 1
    return report


def repair(collection: str, stored: RawDocument, name: str) -> None:
    """Move or drop one extra field of one document (the copy first, then the removal)."""
    if collection == "user" and name in MOVED_TO_META:
        metas = access_collection(UserMeta._meta["collection"])
        metas.update_one({"_id": stored["_id"]}, {"$setOnInsert": {name: stored[name]}}, upsert=True)
        metas.update_one({"_id": stored["_id"], name: None}, {"$set": {name: stored[name]}})
    access_collection(collection).update_one({"_id": stored["_id"]}, {"$unset": {name: ""}})

"""Changes made through the models end the sessions they revoke.

``init_app`` connects these receivers to mongoengine's signals. A user
deactivated or given a new password through ``User.save()``, or deleted
through ``User.delete()``, has its sessions ended at once (before the write
too, so that one failing half-way leaves none). Changes written around the
models (a queryset ``update()``, a raw write) need no receiver: the session
check reads the user and role as they are now.
"""

from __future__ import annotations

from typing import Any, Optional

from flask import has_app_context
from mongoengine import signals as model_signals

from . import emails, passkeys
from .database import current_database
from .models import User
from .state import current_app_state
from .store import SessionStore


def _store() -> SessionStore:
    """The current app's store, or (a script, outside any app) one on the models' database."""
    state = current_app_state() if has_app_context() else None
    return state.store if state is not None else SessionStore(current_database())


def _ending_reason(user: User) -> Optional[str]:
    """Why saving ``user`` ends its sessions, or None when it does not."""
    if not user.active:
        return "deactivated"
    if "password" in user._get_changed_fields():
        return "password_reset"
    return None


def _end(user: User, reason: str) -> None:
    _store().end(user.pk, reason)
    if reason in ("deactivated", "deleted"):
        passkeys.forget_user(user.pk)  # a user's passkeys end with it


def _user_saving(sender: type, document: User, created: bool = False, **kwargs: Any) -> None:
    reason = None if created else _ending_reason(document)
    if reason:
        _end(document, reason)


def _user_saved(sender: type, document: User, created: bool = False, **kwargs: Any) -> None:
    if created:
        return
    reason = _ending_reason(document)
    if reason:
        _end(document, reason)  # and none opened by a login racing it
    else:
        _store().update_user_state(
            document.pk, {"role": document.role_name, "change_password": bool(document.change_password)}
        )


def _user_deleting(sender: type, document: User, **kwargs: Any) -> None:
    _end(document, "deleted")
    emails.forget_user(document.pk)  # neither its address nor a mailed link outlives it


def connect() -> None:
    """Connect the receivers (again is harmless: blinker keeps one of each)."""
    model_signals.pre_save_post_validation.connect(_user_saving, sender=User)
    model_signals.post_save.connect(_user_saved, sender=User)
    model_signals.pre_delete.connect(_user_deleting, sender=User)
    model_signals.post_delete.connect(_user_deleting, sender=User)

"""Account operations shared by the command line and GraphQL."""

from __future__ import annotations

from mongoengine.errors import NotUniqueError

from .errors import PolicyError
from .extension import get_state
from .models import Role, User, normalize_username
from .passwords import hash_password, validate_new_password


def find_role(name: str) -> Role:
    role = Role.objects(name=name).first()
    if role is None:
        raise PolicyError("role_not_found", f"role {name!r} does not exist")
    return role


def create_user(username: str, password: str, role_name: str, change_password: bool = False) -> User:
    """A new user, after the username and password policies; PolicyError otherwise."""
    settings = get_state().settings
    username = normalize_username(username, settings.username_min_length)
    validate_new_password(password, settings.password_min_length)
    user = User(
        username=username,
        password=hash_password(password, settings.bcrypt_rounds),
        role=find_role(role_name),
        change_password=change_password,
    )
    try:
        return user.save()
    except NotUniqueError:
        raise PolicyError("username_taken", f"user {username!r} already exists") from None

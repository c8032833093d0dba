"""Passkeys (WebAuthn, through py_webauthn): registration, sign-in without a
username, and the assertion a second factor checks.

Credentials live in ``auth_passkey`` (our own collection, keyed by the
credential id); challenges in ``auth_webauthn_challenge``, each bound to its
ceremony (and to the user when one is known), spent at most once by an
atomic delete and dropped by a TTL index once expired. The origin and the
RP id are checked, user verification is required, and a signature counter
that does not move forward is refused (``mfa_failed`` with reason
``cloned_authenticator``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidJSONStructure, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from . import signals
from .clock import utcnow
from .database import RawDocument, access_collection
from .errors import AuthError, BadCredentials, BadRequest, NotFound
from .models import User
from .state import get_state

PASSKEYS = "auth_passkey"
CHALLENGES = "auth_webauthn_challenge"
CHALLENGE_SECONDS = 300
REGISTER, SIGN_IN, SECOND_FACTOR = "register", "sign_in", "second_factor"
MAX_NAME = 64
MAX_PER_USER = 20


class PasskeysOff(AuthError):
    """``AUTH_WEBAUTHN_RP_ID`` is not set: the passkey helpers answer 404."""

    status, message = 404, "not_found"


@dataclass(frozen=True)
class Passkey:
    """A registered passkey as its owner sees it."""

    id: str
    name: str
    created_at: Optional[datetime]
    last_used_at: Optional[datetime]


def _passkeys() -> Collection[RawDocument]:
    return access_collection(PASSKEYS)


def _challenges() -> Collection[RawDocument]:
    return access_collection(CHALLENGES)


def ensure_indexes() -> None:
    """A user's passkeys by user; challenges dropped once expired."""
    _passkeys().create_index("user")
    _challenges().create_index("expires_at", expireAfterSeconds=0)


def _relying_party() -> tuple[str, str, list[str]]:
    """(RP id, RP name, accepted origins); PasskeysOff when not configured."""
    settings = get_state().settings
    if not settings.webauthn_rp_id:
        raise PasskeysOff()
    return settings.webauthn_rp_id, settings.webauthn_rp_name, list(settings.webauthn_origins)


def _keep_challenge(challenge: bytes, ceremony: str, user_id: Optional[ObjectId]) -> None:
    now = utcnow()
    _challenges().insert_one(
        {
            "_id": bytes_to_base64url(challenge),
            "ceremony": ceremony,
            "user": user_id,
            "expires_at": now + timedelta(seconds=CHALLENGE_SECONDS),
        }
    )


def _spend_challenge(client_data_json: bytes, ceremony: str, user_id: Optional[ObjectId]) -> bytes:
    """The challenge the client signed, deleted at once: it serves one
    ceremony of that kind (and that user) once, before it expires."""
    try:
        challenge = json.loads(client_data_json)["challenge"]
    except (ValueError, KeyError, TypeError):
        raise BadCredentials() from None
    if not isinstance(challenge, str):
        raise BadCredentials()
    query: dict[str, Any] = {"_id": challenge, "ceremony": ceremony, "expires_at": {"$gt": utcnow()}}
    if user_id is not None:
        query["user"] = user_id
    if _challenges().find_one_and_delete(query) is None:
        raise BadCredentials()
    return base64url_to_bytes(challenge)


def _credential(value: Any, registration: bool) -> Any:
    """A WebAuthn credential in its JSON form, parsed; BadRequest when malformed."""
    if not isinstance(value, dict):
        raise BadRequest({"credential": "must be a WebAuthn credential (a JSON object)"})
    try:
        return (parse_registration_credential_json if registration else parse_authentication_credential_json)(value)
    except (InvalidJSONStructure, InvalidRegistrationResponse, InvalidAuthenticationResponse, ValueError, TypeError):
        raise BadRequest({"credential": "is not a well-formed WebAuthn credential"}) from None


# -- registration ------------------------------------------------------------------


def registration_options(user: User) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptions`` for a new passkey of ``user``
    (resident key preferred, user verification required)."""
    rp_id, rp_name, _ = _relying_party()
    existing = [PublicKeyCredentialDescriptor(id=base64url_to_bytes(doc["_id"])) for doc in _owned(user.pk)]
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_name=user.username,
        user_id=user.pk.binary,
        exclude_credentials=existing,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.REQUIRED
        ),
    )
    _keep_challenge(options.challenge, REGISTER, user.pk)
    parsed: dict[str, Any] = json.loads(options_to_json(options))
    return parsed


def register(user: User, credential: Any, name: Any) -> Passkey:
    """Verify the authenticator's answer to ``registration_options`` and keep the passkey."""
    rp_id, _, origins = _relying_party()
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise BadRequest({"name": f"must be 1 to {MAX_NAME} characters"})
    parsed = _credential(credential, registration=True)
    challenge = _spend_challenge(parsed.response.client_data_json, REGISTER, user.pk)
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origins,
            require_user_verification=True,
        )
    except (InvalidRegistrationResponse, ValueError, TypeError):
        raise BadCredentials() from None
    if _passkeys().count_documents({"user": user.pk}) >= MAX_PER_USER:
        raise BadRequest({"credential": f"at most {MAX_PER_USER} passkeys a user"})
    now = utcnow()
    document = {
        "_id": bytes_to_base64url(verified.credential_id),
        "user": user.pk,
        "name": name.strip(),
        "public_key": verified.credential_public_key,
        "sign_count": verified.sign_count,
        "created_at": now,
        "last_used_at": None,
    }
    try:
        _passkeys().insert_one(document)
    except DuplicateKeyError:
        raise BadCredentials() from None
    signals.send(signals.mfa_enrolled, user=user, method="passkey")
    return _passkey(document)


# -- sign-in and second factor -----------------------------------------------------


def authentication_options(user: Optional[User] = None) -> dict[str, Any]:
    """``PublicKeyCredentialRequestOptions``: for any discoverable passkey
    (sign-in without a username), or for ``user``'s (a second factor)."""
    rp_id, _, _ = _relying_party()
    allowed = (
        [PublicKeyCredentialDescriptor(id=base64url_to_bytes(doc["_id"])) for doc in _owned(user.pk)]
        if user is not None
        else None
    )
    options = generate_authentication_options(
        rp_id=rp_id, allow_credentials=allowed, user_verification=UserVerificationRequirement.REQUIRED
    )
    _keep_challenge(options.challenge, SIGN_IN if user is None else SECOND_FACTOR, user.pk if user else None)
    parsed: dict[str, Any] = json.loads(options_to_json(options))
    return parsed


def verify_assertion(credential: Any, user: Optional[User] = None) -> User:
    """The active user whose passkey signed ``credential`` (for ``user``'s
    own passkeys when given: a second factor); BadCredentials otherwise."""
    rp_id, _, origins = _relying_party()
    parsed = _credential(credential, registration=False)
    challenge = _spend_challenge(
        parsed.response.client_data_json, SIGN_IN if user is None else SECOND_FACTOR, user.pk if user else None
    )
    stored = _passkeys().find_one({"_id": parsed.id})
    if stored is None or (user is not None and stored["user"] != user.pk):
        raise BadCredentials()
    owner = user or User.find_active(stored["user"])
    if owner is None or not owner.active:
        raise BadCredentials()
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origins,
            credential_public_key=stored["public_key"],
            credential_current_sign_count=stored["sign_count"],
            require_user_verification=True,
        )
    except InvalidAuthenticationResponse as error:
        if "sign count" in str(error).lower():
            signals.send(signals.mfa_failed, user=owner, method="passkey", reason="cloned_authenticator")
        raise BadCredentials() from None
    except (ValueError, TypeError):
        raise BadCredentials() from None
    # The counter moves forward once: a concurrent use of the same count loses.
    moved = _passkeys().update_one(
        {"_id": stored["_id"], "sign_count": stored["sign_count"]},
        {"$set": {"sign_count": verified.new_sign_count, "last_used_at": utcnow()}},
    )
    if moved.matched_count != 1:
        signals.send(signals.mfa_failed, user=owner, method="passkey", reason="cloned_authenticator")
        raise BadCredentials()
    return owner


# -- the owner's list --------------------------------------------------------------


def _owned(user_id: ObjectId) -> list[RawDocument]:
    return list(_passkeys().find({"user": user_id}, {"public_key": 0}).sort("created_at", -1))


def _passkey(document: RawDocument) -> Passkey:
    return Passkey(document["_id"], document["name"], document.get("created_at"), document.get("last_used_at"))


def has_passkeys(user_id: ObjectId) -> bool:
    """Whether the user can use a passkey as its second factor (passkeys are
    on, and it has one)."""
    if not get_state().settings.webauthn_rp_id:
        return False
    return _passkeys().count_documents({"user": user_id}, limit=1) == 1


def verify_second_factor(user: User, credential: Any, client: Any) -> bool:
    """Whether ``credential`` is an assertion of one of ``user``'s passkeys,
    signed over a second-factor challenge (``mfa.Method``'s ``verify``)."""
    try:
        verify_assertion(credential, user)
    except BadCredentials:
        return False
    return True


def list_passkeys(user_id: ObjectId) -> list[Passkey]:
    """The user's passkeys, newest first (never their keys)."""
    return [_passkey(doc) for doc in _owned(user_id)]


def delete(user: User, passkey_id: Any) -> None:
    """Remove one of ``user``'s own passkeys; NotFound for any other id."""
    if (
        not isinstance(passkey_id, str)
        or _passkeys().delete_one({"_id": passkey_id, "user": user.pk}).deleted_count != 1
    ):
        raise NotFound()
    signals.send(signals.mfa_removed, user=user, method="passkey")


def forget_user(user_id: ObjectId) -> None:
    """The user was deactivated or deleted: its passkeys end with it."""
    _passkeys().delete_many({"user": user_id})
    _challenges().delete_many({"user": user_id})

"""GraphQL: the password and account mutations, ready for a graphene 3 schema.

``Query`` and ``Mutation`` hold every field; ``schema`` serves them as they
are, or compose the mutation classes into a schema of your own (build it with
``auto_camelcase=False``: field names are snake_case). Resolvers find the
caller from the request's Bearer token themselves, so one endpoint serves
anonymous and authenticated operations. A failure is a GraphQL error whose
``message`` is a machine-readable code.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Optional

import graphene
from bson import ObjectId
from bson.errors import InvalidId
from flask import after_this_request, g
from graphene.types.generic import GenericScalar
from graphql import GraphQLError, GraphQLResolveInfo, OperationType
from graphql_relay import from_global_id
from mongoengine.errors import DoesNotExist

from . import accounts, auth, emails, events, mfa, models, signin, transport
from .clock import iso
from .errors import Forbidden, NotFound
from .policies import assurance_level
from .records import CSRF_FIELD, TOKEN_ANSWER_FIELDS, Actor

log = logging.getLogger("flask_auth_service_mongo")
_PASSWORD_CHECKED = "_flask_auth_service_mongo_password_checked"
_CREATION_TIMES = "_flask_auth_service_mongo_creation_times"
_EVENT_USERNAMES = "_flask_auth_service_mongo_event_usernames"
_ADDRESSES = "_flask_auth_service_mongo_addresses"


def _caller(
    roles: auth.RoleSpec = None, password_change_ok: bool = False, mfa_enrolment: bool = False
) -> auth.Identity:
    """The request's authenticated caller, checked like ``auth.required``.

    ``password_change_ok`` lets in a user who must change their password
    whatever ``AUTH_REQUIRE_PASSWORD_CHANGE`` says; ``mfa_enrolment`` a
    session confined to enrolling a second factor.
    """
    identity = auth.authenticate()
    required_change = False if password_change_ok else None
    auth.authorize(identity, auth.allowed_roles(roles), required_change, mfa_enrolment=mfa_enrolment)
    return identity


def _actor() -> Actor:
    """The caller of an account operation (the service checks its role)."""
    identity = _caller()
    return Actor(identity.user_id, identity.role)


def _user_id(user_id: str) -> ObjectId:
    """The id of a user: hex ObjectId, or a relay global id as 0.1.8 gave."""
    try:
        return ObjectId(user_id)
    except (InvalidId, TypeError):
        try:
            return ObjectId(from_global_id(user_id).id)
        except (InvalidId, TypeError, ValueError):
            raise NotFound() from None


class DateTime(graphene.DateTime):
    """ISO 8601 in UTC with a ``Z``, as the REST answers write times."""

    @staticmethod
    def serialize(moment: datetime) -> str:
        if not isinstance(moment, datetime):
            raise GraphQLError(f"DateTime cannot represent value: {moment!r}")
        return iso(moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment) or ""


class Role(graphene.ObjectType):
    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    permissions = GenericScalar(description="the role's permissions, a JSON object")


class User(graphene.ObjectType):
    """An account as clients may see it: never the password hash."""

    id = graphene.ID(required=True)
    username = graphene.String(required=True)
    role = graphene.Field(Role)
    active = graphene.Boolean()
    change_password = graphene.Boolean()
    created_at = DateTime()
    email = graphene.String(description="the address password reset links go to")

    @staticmethod
    def resolve_created_at(user: models.User, info: GraphQLResolveInfo) -> Optional[datetime]:
        known = g.get(_CREATION_TIMES) or {}
        return known[user.pk] if user.pk in known else user.creation_time()

    @staticmethod
    def resolve_email(user: models.User, info: GraphQLResolveInfo) -> Optional[str]:
        known = g.get(_ADDRESSES)
        return known.get(user.pk) if known is not None and user.pk in known else emails.address_of(user.pk)

    @staticmethod
    def resolve_role(user: models.User, info: GraphQLResolveInfo) -> Optional[models.Role]:
        try:
            role: Optional[models.Role] = user.role
        except DoesNotExist:  # the role was deleted
            return None
        return role


class Event(graphene.ObjectType):
    """A security event of the audit trail (never a secret)."""

    id = graphene.ID(required=True)
    time = DateTime(required=True)
    kind = graphene.String(required=True, description="the signal's name, e.g. user_logged_in")
    user_id = graphene.ID()
    username = graphene.String()
    session_id = graphene.String()
    session_ids = graphene.List(graphene.NonNull(graphene.String))
    ip = graphene.String()
    user_agent = graphene.String()
    reason = graphene.String()
    details = GenericScalar(description="the event's other arguments, a JSON object")

    @staticmethod
    def resolve_id(event: dict[str, Any], info: GraphQLResolveInfo) -> str:
        return str(event["_id"])

    @staticmethod
    def resolve_user_id(event: dict[str, Any], info: GraphQLResolveInfo) -> Optional[str]:
        return str(event["user"]) if event.get("user") else None

    @staticmethod
    def resolve_username(event: dict[str, Any], info: GraphQLResolveInfo) -> Optional[str]:
        names: dict[ObjectId, str] = g.get(_EVENT_USERNAMES) or {}
        return names.get(event["user"]) if event.get("user") else None

    @staticmethod
    def resolve_details(event: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any]:
        return event.get("details") or {}


class UpdatePasswordInput(graphene.InputObjectType):
    current_password = graphene.String(required=True)
    new_password = graphene.String(required=True)
    password_confirmed = graphene.String(required=True)


class UpdatePassword(graphene.Mutation):
    """The caller changes their own password; their other sessions end."""

    class Arguments:
        input = UpdatePasswordInput(required=True)

    ok = graphene.Boolean()

    @staticmethod
    def mutate(root: Any, info: GraphQLResolveInfo, input: UpdatePasswordInput) -> UpdatePassword:
        identity = _caller(password_change_ok=True)
        if g.get(_PASSWORD_CHECKED):
            # One bcrypt check a request: aliases must not multiply guesses.
            raise GraphQLError("too_many_attempts")
        setattr(g, _PASSWORD_CHECKED, True)
        accounts.change_password(
            identity.user_id,
            identity.session_id,
            input.current_password,
            input.new_password,
            input.password_confirmed,
            transport.request_client(),
        )
        return UpdatePassword(ok=True)


class CreateUserInput(graphene.InputObjectType):
    username = graphene.String(required=True)
    password = graphene.String(required=True)
    password_confirmed = graphene.String(required=True)
    role = graphene.String(required=True)
    change_password = graphene.Boolean(default_value=False)
    email = graphene.String()


class CreateUser(graphene.Mutation):
    """An admin creates an account."""

    class Arguments:
        input = CreateUserInput(required=True)

    user = graphene.Field(User)

    @staticmethod
    def mutate(root: Any, info: GraphQLResolveInfo, input: CreateUserInput) -> CreateUser:
        actor = _actor()
        if input.password != input.password_confirmed:
            raise GraphQLError("passwords_do_not_match")
        user = accounts.create_user(
            actor, input.username, input.password, input.role, bool(input.change_password), input.email
        )
        return CreateUser(user=user)


class UpdateUserInput(graphene.InputObjectType):
    id = graphene.ID(required=True)
    change_password = graphene.Boolean()
    active = graphene.Boolean()
    role = graphene.String()
    email = graphene.String(description='the new address; "" removes it')


class UpdateUser(graphene.Mutation):
    """An admin changes an account's flag, state or role; deactivation ends its sessions."""

    class Arguments:
        input = UpdateUserInput(required=True)

    user = graphene.Field(User)

    @staticmethod
    def mutate(root: Any, info: GraphQLResolveInfo, input: UpdateUserInput) -> UpdateUser:
        user = accounts.update_user(
            _actor(), _user_id(input.id), input.role, input.active, input.change_password, input.email
        )
        return UpdateUser(user=user)


class UserIdInput(graphene.InputObjectType):
    id = graphene.ID(required=True)


class DeleteUser(graphene.Mutation):
    """An admin deletes an account and every session of it."""

    class Arguments:
        input = UserIdInput(required=True)

    ok = graphene.Boolean()

    @staticmethod
    def mutate(root: Any, info: GraphQLResolveInfo, input: UserIdInput) -> DeleteUser:
        accounts.delete_user(_actor(), _user_id(input.id))
        return DeleteUser(ok=True)


class ResetPassword(graphene.Mutation):
    """An admin gives an account a generated password it must change; its sessions end."""

    class Arguments:
        input = UserIdInput(required=True)

    password = graphene.String()

    @staticmethod
    def mutate(root: Any, info: GraphQLResolveInfo, input: UserIdInput) -> ResetPassword:
        return ResetPassword(password=accounts.reset_password(_actor(), _user_id(input.id)))


class RefreshTokenInput(graphene.InputObjectType):
    refresh_token = graphene.String(required=True)


#: The fields of a token answer, from the one list of ``records``.
TokenPairFields: type = type(
    "TokenPairFields",
    (),
    {
        name: {str: graphene.String, int: graphene.Int, bool: graphene.Boolean}[kind](description=text)
        for name, kind, text in (*TOKEN_ANSWER_FIELDS, CSRF_FIELD)
    },
)


class RefreshToken(TokenPairFields, graphene.Mutation):
    """Spend a refresh token for a new pair, as ``api_rest.refresh()`` does."""

    class Arguments:
        input = RefreshTokenInput(required=True)

    @staticmethod
    def mutate(root: Any, info: GraphQLResolveInfo, input: RefreshTokenInput) -> RefreshToken:
        transport.forbid_caching()
        pair = signin.refresh(input.refresh_token)
        if transport.cookies_enabled():
            after_this_request(lambda response: transport.attach_tokens(response, pair))
        return RefreshToken(**transport.shape_body({"data": pair.as_data()}, pair.session_id)["data"])


#: The second-factor mutations, open to sessions confined to enrolment.
ENROLMENT_MUTATIONS = frozenset({"totp_begin", "totp_confirm", "mfa_disable", "regenerate_recovery_codes"})


def _enrolling_caller() -> tuple[auth.Identity, models.User]:
    """The caller of a second-factor mutation (``auth.second_factor_caller``)."""
    return auth.second_factor_caller()


class TotpBegin(graphene.Mutation):
    """Begin a TOTP enrolment, as ``api_rest.totp_begin()``."""

    secret = graphene.String()
    otpauth_uri = graphene.String()
    qr_svg = graphene.String()

    @staticmethod
    def mutate(root: Any, info: GraphQLResolveInfo) -> TotpBegin:
        transport.forbid_caching()
        _, user = _enrolling_caller()
        return TotpBegin(**mfa.begin_totp(user).as_data())


class CodeInput(graphene.InputObjectType):
    code = graphene.String()
    recovery_code = graphene.String()


class TotpConfirm(graphene.Mutation):
    """Complete the enrolment with the first code: the ten recovery codes, once."""

    class Arguments:
        input = CodeInput(required=True)

    recovery_codes = graphene.List(graphene.NonNull(graphene.String))

    @staticmethod
    def mutate(root: Any, info: GraphQLResolveInfo, input: CodeInput) -> TotpConfirm:
        transport.forbid_caching()
        identity, user = _enrolling_caller()
        if input.recovery_code is not None:
            raise GraphQLError("bad_request")
        codes = mfa.confirm_totp(user, identity.session_id, input.code, transport.request_client())
        return TotpConfirm(recovery_codes=codes)


class MfaDisable(graphene.Mutation):
    """Remove the second factor with a ``code`` or a ``recovery_code``."""

    class Arguments:
        input = CodeInput(required=True)

    ok = graphene.Boolean()

    @staticmethod
    def mutate(root: Any, info: GraphQLResolveInfo, input: CodeInput) -> MfaDisable:
        identity, user = _enrolling_caller()
        given = [name for name in ("code", "recovery_code") if getattr(input, name) is not None]
        method = mfa.method_of_field(given[0]) if len(given) == 1 else None
        if method is None:
            raise GraphQLError("bad_request")
        mfa.disable(user, identity.session_id, method, getattr(input, given[0]), transport.request_client())
        return MfaDisable(ok=True)


class RegenerateRecoveryCodes(graphene.Mutation):
    """A new set of ten recovery codes; the old set is void."""

    recovery_codes = graphene.List(graphene.NonNull(graphene.String))

    @staticmethod
    def mutate(root: Any, info: GraphQLResolveInfo) -> RegenerateRecoveryCodes:
        transport.forbid_caching()
        _, user = _enrolling_caller()
        return RegenerateRecoveryCodes(recovery_codes=mfa.regenerate_recovery_codes(user))


class Query(graphene.ObjectType):
    me = graphene.Field(User)
    users = graphene.List(
        graphene.NonNull(User),
        limit=graphene.Int(default_value=accounts.DEFAULT_PAGE),
        offset=graphene.Int(default_value=0),
    )
    roles = graphene.List(graphene.NonNull(Role))
    events = graphene.List(
        graphene.NonNull(Event),
        username=graphene.String(),
        kind=graphene.String(),
        since=DateTime(),
        limit=graphene.Int(default_value=events.DEFAULT_PAGE),
        offset=graphene.Int(default_value=0),
        description="anyone's security events, newest first (admin roles)",
    )

    @staticmethod
    def resolve_me(root: Any, info: GraphQLResolveInfo) -> Optional[models.User]:
        _caller(password_change_ok=True)
        return auth.current_user()

    @staticmethod
    def resolve_users(
        root: Any, info: GraphQLResolveInfo, limit: Optional[int], offset: Optional[int]
    ) -> list[models.User]:
        users = accounts.list_users(_actor(), limit, offset)
        # One read of user_meta for the page, not one a user.
        ids = [user.pk for user in users]
        setattr(g, _CREATION_TIMES, models.creation_times(ids))
        found = emails.addresses_of(ids)
        setattr(g, _ADDRESSES, {pk: found.get(pk) for pk in ids})
        return users

    @staticmethod
    def resolve_roles(root: Any, info: GraphQLResolveInfo) -> list[models.Role]:
        return accounts.list_roles(_actor())

    @staticmethod
    def resolve_events(
        root: Any,
        info: GraphQLResolveInfo,
        limit: Optional[int],
        offset: Optional[int],
        username: Optional[str] = None,
        kind: Optional[str] = None,
        since: Optional[datetime] = None,
    ) -> list[dict[str, Any]]:
        found = accounts.list_events(_actor(), username, kind, events.parse_time(since), limit, offset)
        setattr(g, _EVENT_USERNAMES, events.usernames(found))
        return found


class Mutation(graphene.ObjectType):
    update_password = UpdatePassword.Field()
    create_user = CreateUser.Field()
    update_user = UpdateUser.Field()
    delete_user = DeleteUser.Field()
    reset_password = ResetPassword.Field()
    refresh_token = RefreshToken.Field()
    totp_begin = TotpBegin.Field()
    totp_confirm = TotpConfirm.Field()
    mfa_disable = MfaDisable.Field()
    regenerate_recovery_codes = RegenerateRecoveryCodes.Field()


schema = graphene.Schema(query=Query, mutation=Mutation, auto_camelcase=False)


class Roles:
    """The two pseudo-roles of ``MutationMiddleware`` rules (0.1.8 values)."""

    IS_AUTHENTICATED_FULLY = "is_authenticated"
    IS_AUTHENTICATED_ANONYMOUSLY = "is_anonymously"

    @staticmethod
    def values() -> list[str]:
        return [Roles.IS_AUTHENTICATED_FULLY, Roles.IS_AUTHENTICATED_ANONYMOUSLY]


class MutationMiddleware:
    """Per-mutation role rules, as in 0.1.8: a graphql-core middleware.

    ``access_control`` lists ``{"mutation": name, "roles": [...]}`` (the first
    rule for a name wins); roles are role names, ``Roles.IS_AUTHENTICATED_FULLY``
    (any authenticated user) or ``Roles.IS_AUTHENTICATED_ANONYMOUSLY`` (anyone).
    ``"fresh": SECONDS`` also asks for a password checked that recently, as
    ``auth.required(fresh=...)`` does, and ``"acr": "aal2"`` a session signed
    in with a second factor, as ``auth.required(acr=...)``. A mutation without
    a rule is left to its resolver. A refused mutation is a GraphQL error
    (``unauthorized``, ``invalid_token``, ``forbidden``, ``fresh_login_required``,
    ``insufficient_user_authentication``...).
    """

    def __init__(self, access_control: Iterable[dict[str, Any]]):
        self.rules: dict[str, tuple[Optional[frozenset[str]], Optional[timedelta], Optional[str]]] = {}
        for rule in access_control:
            if not isinstance(rule.get("mutation"), str) or rule.get("roles") is None:
                raise ValueError("each access_control rule needs a 'mutation' name and its 'roles'")
            fresh = auth.freshness(rule.get("fresh"))
            acr = assurance_level(rule["acr"]) if rule.get("acr") is not None else None
            self.rules.setdefault(rule["mutation"], (auth.allowed_roles(rule["roles"]), fresh, acr))

    def resolve(self, next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        if info.operation.operation is OperationType.MUTATION and info.path.prev is None:
            roles, fresh, acr = self.rules.get(info.field_name, (None, None, None))
            stricter = fresh is not None or acr is not None
            if roles is not None and (stricter or Roles.IS_AUTHENTICATED_ANONYMOUSLY not in roles):
                # A user who must change their password may only do that.
                enrolment = info.field_name in ENROLMENT_MUTATIONS
                identity = _caller(password_change_ok=info.field_name == "update_password", mfa_enrolment=enrolment)
                named = roles - {Roles.IS_AUTHENTICATED_FULLY, Roles.IS_AUTHENTICATED_ANONYMOUSLY}
                if named == roles and identity.role not in roles:
                    raise Forbidden()
                auth.authorize(identity, None, False, fresh, acr=acr, mfa_enrolment=enrolment)
        return next_(root, info, **args)

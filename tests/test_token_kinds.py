"""Tokens to the JWT best practices (RFC 8725, RFC 9068): the two kinds told
apart by their ``typ`` header, issuer and audience, the app's own claims,
and body limits that follow from the keys."""

import jwt
import pytest
from conftest import PASSWORD, SECRET, bearer, database_uri, graphql
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Flask, jsonify
from mfa_helpers import enrol
from test_graphql_refresh_token import refresh as graphql_refresh
from test_jwks import key_config, published
from test_keys import pem_private

from flask_auth_service_mongo import AuthService, api_rest, auth
from flask_auth_service_mongo.state import get_state

ISSUED = {"AUTH_ISSUER": "https://auth.example.com", "AUTH_AUDIENCE": "https://api.example.com"}


def header(token: str) -> dict:
    return jwt.get_unverified_header(token)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def resign(token: str, headers: dict | None = None, **changes) -> str:
    """``token`` with its claims changed, signed again with the test secret."""
    claims = {**claims_of(token), **changes}
    return jwt.encode(claims, SECRET, algorithm="HS256", headers={**header(token), **(headers or {})})


def rfc9068_verify(key_set: dict, token: str, issuer: str, audience: str) -> dict:
    """A generic RFC 9068 resource server: the key by ``kid`` from the JWKS,
    ``typ`` at+jwt, and the algorithm, issuer and audience pinned."""
    if header(token).get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
        raise jwt.InvalidTokenError("not an access token")
    key = jwt.PyJWKSet.from_dict(key_set)[header(token)["kid"]]
    return jwt.decode(
        token, key.key, algorithms=["RS256"], issuer=issuer, audience=audience, options={"require": ["exp", "sub"]}
    )


def test_the_two_kinds_carry_their_own_typ(pair):
    assert header(pair["access_token"])["typ"] == "at+jwt"
    assert header(pair["refresh_token"])["typ"] == "refresh+jwt"


def test_each_verifier_refuses_the_other_kind(client, pair):
    refused = client.get("/admin/me", headers=bearer(pair["refresh_token"]))
    assert (refused.status_code, refused.json["message"]) == (401, "invalid_token")
    refused = client.post("/admin/refresh", json={"refresh_token": pair["access_token"]})
    assert refused.status_code == 401


def test_the_header_alone_is_enough_to_refuse_a_kind(client, pair):
    # The claim says access, the header says refresh: refused.
    mixed = resign(pair["access_token"], headers={"typ": "refresh+jwt"})
    assert client.get("/admin/me", headers=bearer(mixed)).json["message"] == "invalid_token"
    mixed = resign(pair["refresh_token"], headers={"typ": "at+jwt"})
    assert client.post("/admin/refresh", json={"refresh_token": mixed}).status_code == 401


def test_tokens_signed_before_the_upgrade_keep_working_until_they_expire(client, pair):
    old_access = resign(pair["access_token"], headers={"typ": "JWT"})
    assert client.get("/admin/me", headers=bearer(old_access)).status_code == 200
    old_refresh = resign(pair["refresh_token"], headers={"typ": "JWT"})
    assert client.post("/admin/refresh", json={"refresh_token": old_refresh}).status_code == 200
    # ...read by their claim: an old refresh token is no access token.
    assert client.get("/admin/me", headers=bearer(old_refresh)).status_code == 401


def test_a_generic_rfc9068_verifier_accepts_our_access_token_and_refuses_the_refresh_token(make_app, make_user):
    app = make_app(**key_config("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)), **ISSUED)
    make_user()
    data = app.test_client().post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    key_set, issuer, audience = published(app), ISSUED["AUTH_ISSUER"], ISSUED["AUTH_AUDIENCE"]
    assert rfc9068_verify(key_set, data["access_token"], issuer, audience)["type"] == "access"
    with pytest.raises(jwt.InvalidTokenError):
        rfc9068_verify(key_set, data["refresh_token"], issuer, audience)


def test_issuer_and_audience_are_written_and_required(make_app, make_user):
    app = make_app(**ISSUED)
    make_user()
    client = app.test_client()
    data = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    claims = claims_of(data["access_token"])
    assert (claims["iss"], claims["aud"]) == (ISSUED["AUTH_ISSUER"], ISSUED["AUTH_AUDIENCE"])
    assert claims_of(data["refresh_token"])["aud"] == ISSUED["AUTH_AUDIENCE"]
    assert client.get("/admin/me", headers=bearer(data["access_token"])).status_code == 200
    for forged in (
        resign(data["access_token"], aud="https://other.example.com"),
        resign(data["access_token"], iss="https://other.example.com"),
        jwt.encode(
            {k: v for k, v in claims.items() if k != "aud"}, SECRET, algorithm="HS256", headers=header(data["token"])
        ),
    ):
        refused = client.get("/admin/me", headers=bearer(forged))
        assert (refused.status_code, refused.json["message"]) == (401, "invalid_token")


def test_a_token_of_an_app_without_an_audience_is_refused_by_one_with_it(make_app, make_user):
    plain = make_app()
    make_user()
    token = plain.test_client().post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    strict = make_app(**ISSUED)  # same secret, same database
    refused = strict.test_client().get("/admin/me", headers=bearer(token["token"]))
    assert (refused.status_code, refused.json["message"]) == (401, "invalid_token")


@pytest.mark.parametrize("value", ["", "  ", 42])
def test_a_bad_issuer_or_audience_is_a_start_up_error(make_app, value):
    for key in ISSUED:
        with pytest.raises(Exception, match=key):
            make_app(**{key: value})


def own_app(db_name: str, loader=None, prefix: str = "") -> tuple[Flask, AuthService]:
    """A small app of a user's: login (and its second step), refresh, TOTP
    enrolment and a view of its claims, under ``prefix``."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, MONGODB_URI=database_uri(db_name), AUTH_BCRYPT_ROUNDS=4, TESTING=True)
    service = AuthService(app)
    if loader is not None:
        service.additional_claims_loader(loader)
    blueprint = Blueprint("api", __name__)
    blueprint.post("/login")(api_rest.login)
    blueprint.post("/login/mfa")(api_rest.login_mfa)
    blueprint.post("/refresh")(api_rest.refresh)
    blueprint.post("/mfa/totp")(api_rest.totp_begin)
    blueprint.post("/mfa/totp/confirm")(api_rest.totp_confirm)

    @blueprint.get("/claims")
    @auth.required()
    def claims():
        return jsonify(auth.current_claims())

    app.register_blueprint(blueprint, url_prefix=prefix or None)
    return app, service


def test_the_apps_own_claims_are_in_every_access_token_and_in_current_claims(db_name, make_user):
    seen = []

    def loader(user):
        seen.append(user.username)
        return {"tenant": "acme", "roles": [user.role_name]}

    app, _ = own_app(db_name, loader)
    with app.app_context():
        make_user()
    client = app.test_client()
    data = client.post("/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    assert claims_of(data["access_token"])["tenant"] == "acme"
    assert "tenant" not in claims_of(data["refresh_token"])
    answer = client.get("/claims", headers=bearer(data["access_token"])).json
    assert (answer["tenant"], answer["roles"], answer["sub"]) == ("acme", ["admin"], claims_of(data["token"])["sub"])
    # Again: the verified-token cache answers, with every claim still there.
    assert client.get("/claims", headers=bearer(data["access_token"])).json == answer == claims_of(data["token"])
    refreshed = client.post("/refresh", json={"refresh_token": data["refresh_token"]}).json["data"]
    assert claims_of(refreshed["access_token"])["tenant"] == "acme"
    assert seen == ["alice", "alice"]  # login, refresh


def test_the_second_factors_step_runs_the_loader_too(db_name, make_user):
    app, _ = own_app(db_name, lambda user: {"tenant": "acme"}, prefix="/admin")
    with app.app_context():
        make_user()
    client = app.test_client()
    token = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]["token"]
    authenticator, _ = enrol(client, token)
    started = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json
    assert started["message"] == "mfa_required"
    body = {"mfa_token": started["data"]["mfa_token"], "code": authenticator.code()}
    data = client.post("/admin/login/mfa", json=body).json["data"]
    claims = claims_of(data["access_token"])
    assert (claims["tenant"], claims["acr"]) == ("acme", "aal2")


def test_a_loader_registered_after_init_app_counts_too(db_name, make_user):
    app, service = own_app(db_name)

    @service.additional_claims_loader
    def loader(user):
        return {"plan": "gold"}

    with app.app_context():
        make_user()
    data = app.test_client().post("/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    assert claims_of(data["access_token"])["plan"] == "gold"


def test_a_refresh_of_a_disabled_user_gives_the_loader_nothing(db_name, make_user):
    app, _ = own_app(db_name, lambda user: {"tenant": "acme"})
    with app.app_context():
        user = make_user()
    client = app.test_client()
    data = client.post("/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    with app.app_context():
        type(user).objects(pk=user.pk).update(set__active=False)  # around the models' hooks
    assert client.post("/refresh", json={"refresh_token": data["refresh_token"]}).status_code == 401


@pytest.mark.parametrize("claims", [{"sub": "someone else"}, {"exp": 1, "tenant": "x"}, {"scope": "admin"}])
def test_registered_claim_names_are_refused_with_a_clear_error(db_name, make_user, claims):
    app, _ = own_app(db_name, lambda user: claims)
    with app.app_context():
        make_user()
    with pytest.raises(ValueError, match="additional_claims_loader may not set the registered claims"):
        app.test_client().post("/login", json={"username": "alice", "password": PASSWORD})


def test_a_loader_that_returns_no_mapping_is_a_clear_error(db_name, make_user):
    app, _ = own_app(db_name, lambda user: ["tenant"])
    with app.app_context():
        make_user()
    with pytest.raises(TypeError, match="must return a dict"):
        app.test_client().post("/login", json={"username": "alice", "password": PASSWORD})


def test_current_claims_are_empty_outside_an_authenticated_request(app):
    with app.test_request_context("/"):
        assert auth.current_claims() == {}


LONG_KID = "k" * 67


@pytest.fixture(scope="module")
def rsa_4096():
    return rsa.generate_private_key(public_exponent=65537, key_size=4096)


def test_a_long_refresh_token_of_rsa_4096_and_a_long_kid_is_accepted_everywhere(make_app, make_user, rsa_4096):
    app = make_app(AUTH_ALGORITHM="RS256", AUTH_PRIVATE_KEY=pem_private(rsa_4096), AUTH_KEY_ID=LONG_KID, **ISSUED)
    make_user()
    client = app.test_client()
    data = client.post("/admin/login", json={"username": "alice", "password": PASSWORD}).json["data"]
    assert len(data["refresh_token"]) > 1024
    assert len(data["refresh_token"]) <= get_state(app).tokens.max_refresh_length
    body = client.post("/admin/refresh", json={"refresh_token": data["refresh_token"]})
    assert body.status_code == 200, body.json
    answer = graphql_refresh(client, body.json["data"]["refresh_token"]).json
    assert answer["data"]["refresh_token"]["token_type"] == "Bearer", answer
    assert client.get("/admin/me", headers=bearer(answer["data"]["refresh_token"]["token"])).status_code == 200


def test_the_refresh_body_still_has_a_limit(client, pair):
    limit = get_state(client.application).tokens.max_refresh_length
    refused = client.post("/admin/refresh", json={"refresh_token": "a" * (limit + 1)})
    assert refused.status_code == 400
    assert refused.json["errors"] == {"refresh_token": f"must be 1 to {limit} characters"}


def test_graphql_verifies_the_kinds_too(client, pair):
    answer = graphql_refresh(client, pair["access_token"]).json
    assert answer["errors"][0]["message"] == "invalid_token"
    answer = graphql(client, "{ me { username } }", pair["refresh_token"]).json
    assert answer["errors"][0]["message"] == "invalid_token"

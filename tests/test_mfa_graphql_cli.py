"""The second factor through GraphQL mutations and the ``mfa-reset`` command."""

import pyotp
from conftest import bearer, graphql
from mfa_helpers import Authenticator, database, enrol

BEGIN = "mutation { totp_begin { secret otpauth_uri qr_svg } }"
CONFIRM = "mutation ($code: String) { totp_confirm(input: {code: $code}) { recovery_codes } }"
DISABLE = (
    "mutation ($code: String, $recovery: String) { mfa_disable(input: {code: $code, recovery_code: $recovery}) { ok } }"
)
REGENERATE = "mutation { regenerate_recovery_codes { recovery_codes } }"


def test_graphql_enrols_regenerates_and_removes_totp(app, client, pair):
    token = pair["access_token"]
    begun = graphql(client, BEGIN, token).json["data"]["totp_begin"]
    assert pyotp.parse_uri(begun["otpauth_uri"]).secret == begun["secret"]
    assert begun["qr_svg"].startswith("<svg")
    authenticator = Authenticator(begun["secret"])
    wrong = graphql(client, CONFIRM, token, {"code": "12345"}).json
    assert wrong["errors"][0]["message"] == "bad_code"
    codes = graphql(client, CONFIRM, token, {"code": authenticator.code()}).json["data"]["totp_confirm"]
    assert len(codes["recovery_codes"]) == 10
    fresh = graphql(client, REGENERATE, token).json["data"]["regenerate_recovery_codes"]["recovery_codes"]
    assert len(fresh) == 10 and not set(fresh) & set(codes["recovery_codes"])
    spent = graphql(client, DISABLE, token, {"recovery": codes["recovery_codes"][0]}).json
    assert spent["errors"][0]["message"] == "bad_code"  # the old set is void
    both = graphql(client, DISABLE, token, {"code": "123456", "recovery": fresh[0]}).json
    assert both["errors"][0]["message"] == "bad_request"
    assert graphql(client, DISABLE, token, {"recovery": fresh[0]}).json["data"] == {"mfa_disable": {"ok": True}}
    assert database(app).auth_factor.count_documents({}) == 0


def test_graphql_enrolment_needs_a_signed_in_caller(client):
    assert graphql(client, BEGIN).json["errors"][0]["message"] == "unauthorized"


def test_mfa_reset_removes_the_factors_and_ends_the_sessions(app, client, pair):
    enrol(client, pair["access_token"])
    result = app.test_cli_runner().invoke(args=["auth_mongo", "mfa-reset", "-u", "Alice"])
    assert result.exit_code == 0, result.output
    assert "second factors of 'alice' removed (totp, recovery_code)" in result.output
    db = database(app)
    assert db.auth_factor.count_documents({}) == 0 and db.auth_recovery_code.count_documents({}) == 0
    assert client.get("/admin/me", headers=bearer(pair["access_token"])).status_code == 401


def test_mfa_reset_of_an_unknown_user_fails_with_one_line(app):
    result = app.test_cli_runner().invoke(args=["auth_mongo", "mfa-reset", "-u", "nobody"])
    assert result.exit_code != 0 and "user 'nobody' does not exist" in result.output

"""Property-based tests (hypothesis): whatever the login body or the
Authorization header, the answer is a refusal, never a pass nor a 500."""

import jwt
from conftest import SECRET
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Bounded so the suite stays fast; the app and its database are shared by
# the examples of one test, which is what a long-running server sees too.
FUZZ = settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
usernames = st.sampled_from(["alice", "ALICE", "alice ", "nobody", "$ne", ".*"]) | st.text(max_size=40)
login_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"username": usernames, "password": st.text(max_size=100)}),
    st.fixed_dictionaries({"username": usernames | json_values, "password": json_values}),
    st.dictionaries(st.sampled_from(["username", "password", "$where", "role", "admin"]), json_values),
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300)
segment = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=60)
token_like = st.builds(lambda a, b, c: f"{a}.{b}.{c}", segment, segment, segment)
authorization = st.one_of(
    header_text,
    st.builds("Bearer {}".format, header_text),
    st.builds("Bearer {}".format, token_like),
    st.builds("{} {}".format, st.sampled_from(["bearer", "BEARER", "Basic", "Token", ""]), token_like),
)
claim_sets = st.dictionaries(
    st.sampled_from(["sub", "sid", "jti", "type", "exp", "iat", "nbf", "aud"]), json_values, max_size=8
)


@FUZZ
@given(body=login_bodies)
def test_no_login_body_passes_or_breaks_the_server(client, alice, body):
    response = client.post("/admin/login", json=body)
    assert response.status_code in (400, 429), body
    assert response.json["message"] in ("bad_request", "bad_credentials", "too_many_attempts")


@FUZZ
@given(payload=st.binary(max_size=300))
def test_no_raw_login_payload_breaks_the_server(client, payload):
    response = client.post("/admin/login", data=payload, content_type="application/json")
    assert response.status_code in (400, 429)


@FUZZ
@given(header=authorization)
def test_no_authorization_header_passes_a_guarded_view(client, header):
    response = client.get("/admin/me", headers={"Authorization": header})
    assert response.status_code == 401, header
    assert response.json["message"] in ("unauthorized", "invalid_token")


@FUZZ
@given(claims=claim_sets)
def test_no_claim_set_signed_with_the_real_key_passes_without_a_session(client, claims):
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    response = client.get("/admin/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, claims
    refresh = client.post("/admin/refresh", json={"refresh_token": token})
    assert refresh.status_code in (400, 401), claims

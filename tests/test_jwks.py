"""Publishing the verification keys (JWKS): what another service needs to
check our access tokens on its own, and nothing more."""

import json
import os
import subprocess
import sys

import jwt
import pytest
from conftest import PASSWORD, bearer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask import Blueprint
from flask_restx import Api, Resource
from test_keys import log_in, me, pem_private, pem_public
from wire_server import HTTP_TIMEOUT_SECONDS, AppThread

from flask_auth_service_mongo import api_rest
from flask_auth_service_mongo.keys import PRIVATE_MEMBERS

JWKS = "/.well-known/jwks.json"
#: The other service: PyJWT alone, given the set's URL and a token of ours.
VERIFIER = """
import json, sys, jwt
url, token, algorithm = sys.argv[1:]
key = jwt.PyJWKClient(url, cache_keys=True, timeout=TIMEOUT).get_signing_key_from_jwt(token)
print(json.dumps(jwt.decode(token, key.key, algorithms=[algorithm])))
""".replace("TIMEOUT", str(HTTP_TIMEOUT_SECONDS))


def new_key(algorithm):
    if algorithm.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key({"ES256": ec.SECP256R1, "ES384": ec.SECP384R1}[algorithm]())


def key_config(algorithm, key, *old_keys, as_private=False) -> dict:
    config = {"AUTH_ALGORITHM": algorithm, "AUTH_PRIVATE_KEY": pem_private(key)}
    if old_keys:
        config["AUTH_VERIFY_KEYS"] = [pem_private(k) if as_private else pem_public(k) for k in old_keys]
    return config


def spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def published(app) -> dict:
    response = app.test_client().get(JWKS)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    return response.json


def kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def verify_with_set(key_set: dict, token: str, algorithm: str) -> dict:
    """What another service does with the set: pick the key by kid, verify."""
    key = jwt.PyJWKSet.from_dict(key_set)[kid(token)]
    return jwt.decode(token, key.key, algorithms=[algorithm])


@pytest.fixture
def rotated(make_app, make_user, request):
    """Tokens of an old key and of its successor, and the successor's app
    (the old key in ``AUTH_VERIFY_KEYS``)."""
    algorithm = request.param
    old_key, new_key_ = new_key(algorithm), new_key(algorithm)
    old_app = make_app(**key_config(algorithm, old_key))
    make_user()
    old_token = log_in(old_app)["token"]
    new_app = make_app(**key_config(algorithm, new_key_, old_key))
    return algorithm, new_app, old_token, log_in(new_app)["token"]


@pytest.mark.parametrize("rotated", ["RS256", "PS256", "ES256", "ES384", "EdDSA"], indirect=True)
def test_the_set_verifies_tokens_of_the_current_and_the_previous_key(rotated):
    algorithm, app, old_token, new_token = rotated
    key_set = published(app)
    assert [k["kid"] for k in key_set["keys"]] == [kid(new_token), kid(old_token)]
    assert {(k["alg"], k["use"]) for k in key_set["keys"]} == {(algorithm, "sig")}
    for token in (old_token, new_token):
        assert me(app, token).status_code == 200
        claims = verify_with_set(key_set, token, algorithm)
        assert claims == jwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_no_published_key_has_a_private_member(make_app, algorithm):
    # The old key is given as a private PEM: only its public half is used.
    current, old = new_key(algorithm), new_key(algorithm)
    key_set = published(make_app(**key_config(algorithm, current, old, as_private=True)))
    assert len(key_set["keys"]) == 2
    public_members = {"RS256": {"n", "e"}, "ES256": {"crv", "x", "y"}, "EdDSA": {"crv", "x"}}[algorithm]
    for jwk in key_set["keys"]:
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert jwk.keys() == {"kty", "kid", "alg", "use"} | public_members
    published_old = jwt.PyJWKSet.from_dict(key_set)[key_set["keys"][1]["kid"]].key
    assert spki(published_old) == spki(old.public_key())


def test_a_token_signed_by_a_key_outside_the_set_finds_no_key_in_it(make_app, make_user):
    app = make_app(**key_config("ES256", new_key("ES256")))
    make_user()
    stranger = make_app(**key_config("ES256", new_key("ES256")))
    with pytest.raises(KeyError):
        jwt.PyJWKSet.from_dict(published(app))[kid(log_in(stranger)["token"])]


def test_with_an_hmac_algorithm_the_set_is_empty(make_app, make_user):
    app = make_app(AUTH_SECRET_KEY="n" * 40, AUTH_VERIFY_KEYS={"2024": "o" * 40})
    response = app.test_client().get(JWKS)
    assert response.json == {"keys": []}
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert b"n" * 40 not in response.data and b"o" * 40 not in response.data


def test_the_set_is_answered_with_its_cache_header_by_a_restx_resource_too(make_app):
    app = make_app(**key_config("ES256", new_key("ES256")))
    keys = Blueprint("keys", __name__)

    @Api(keys).route("/jwks")
    class Keys(Resource):
        def get(self):
            return api_rest.jwks()

    app.register_blueprint(keys, url_prefix="/restx")
    response = app.test_client().get("/restx/jwks")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.json == published(app)


def test_another_process_verifies_our_token_with_pyjwkclient_but_cannot_see_a_logout(make_app, make_user):
    old_key, current = new_key("RS256"), new_key("RS256")
    old_app = make_app(**key_config("RS256", old_key))
    make_user()
    old_token = log_in(old_app)["token"]
    app = make_app(**key_config("RS256", current, old_key))
    with AppThread(app) as served:
        login = {"username": "alice", "password": PASSWORD}
        token = app.test_client().post("/admin/login", json=login).json["data"]["token"]

        def verify(token: str) -> dict:
            args = [sys.executable, "-c", VERIFIER, served.url + JWKS, token, "RS256"]
            done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        for issued in (token, old_token):
            assert verify(issued) == jwt.decode(issued, options={"verify_signature": False})
        # Revocation stays ours: after a logout we refuse the token, while
        # the other service still accepts it until it expires.
        assert app.test_client().post("/admin/logout", headers=bearer(token)).status_code == 200
        assert me(app, token).status_code == 401
        assert verify(token)["type"] == "access"


#: The docs' verifiers read the set at their ISSUER; here, at the test server.
DOCS_ISSUER, DOCS_AUDIENCE = "https://auth.example.com", "https://api.example.com"
DOCS_SET_URL = "ISSUER + '/.well-known/jwks.json'"


def docs_verifier(language: str, set_url: str) -> str:
    """The verifier of ``language`` in docs/jwks.rst, reading the set at ``set_url``."""
    from test_docs_commands import DOCS, code_blocks

    blocks = code_blocks((DOCS / "jwks.rst").read_text())
    (lines,) = [lines for lang, classes, lines in blocks if lang == language and "verifier" in classes]
    source = "\n".join(lines)
    assert DOCS_SET_URL in source
    return source.replace(DOCS_SET_URL, repr(set_url))


@pytest.fixture(scope="module")
def jose(tmp_path_factory):
    """A folder with Node's ``jose`` installed (from the npm registry)."""
    import shutil

    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            pytest.fail("npm is missing: the Node verifier of docs/jwks.rst cannot run")
        pytest.skip("needs Node and npm")
    folder = tmp_path_factory.mktemp("jose")
    args = [npm, "install", "--no-audit", "--no-fund", "--silent", "jose@6"]
    subprocess.run(args, cwd=folder, check=True, capture_output=True, timeout=180)
    return folder


@pytest.fixture
def served_with_rsa(make_app, make_user):
    app = make_app(**key_config("RS256", new_key("RS256")), AUTH_ISSUER=DOCS_ISSUER, AUTH_AUDIENCE=DOCS_AUDIENCE)
    make_user()
    with AppThread(app) as served:
        yield served, log_in(app)


def run_python_verifier(set_url: str, token: str) -> subprocess.CompletedProcess:
    main = "\nimport json, sys\nprint(json.dumps(claims_of(sys.argv[1])))\n"
    args = [sys.executable, "-c", docs_verifier("python", set_url) + main, token]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def run_node_verifier(folder, set_url: str, token: str) -> subprocess.CompletedProcess:
    script = folder / "verify.mjs"
    script.write_text(
        docs_verifier("javascript", set_url)
        + "\nclaimsOf(process.argv[2]).then((p) => console.log(JSON.stringify(p)))"
        + ".catch((e) => { console.error(e.code); process.exit(1); });\n"
    )
    return subprocess.run(["node", str(script), token], capture_output=True, text=True, timeout=60, check=False)


def test_the_python_verifier_of_the_docs_takes_access_tokens_only(served_with_rsa):
    served, data = served_with_rsa
    accepted = run_python_verifier(served.url + JWKS, data["access_token"])
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["aud"] == DOCS_AUDIENCE
    refused = run_python_verifier(served.url + JWKS, data["refresh_token"])
    assert refused.returncode != 0 and "not an access token" in refused.stderr


def test_the_node_verifier_of_the_docs_takes_access_tokens_only(jose, served_with_rsa):
    served, data = served_with_rsa
    accepted = run_node_verifier(jose, served.url + JWKS, data["access_token"])
    assert accepted.returncode == 0, accepted.stderr
    claims = json.loads(accepted.stdout)
    assert (claims["iss"], claims["aud"], claims["type"]) == (DOCS_ISSUER, DOCS_AUDIENCE, "access")
    refused = run_node_verifier(jose, served.url + JWKS, data["refresh_token"])
    assert (refused.returncode, refused.stderr.strip()) == (1, "ERR_JWT_CLAIM_VALIDATION_FAILED")

"""What a release ships: a complete sdist (runnable tests, docs, example),
the license and policy files, and metadata that matches the package."""

import email
import subprocess
import sys
import tarfile

import pytest
from wire_server import ROOT

import flask_auth_service_mongo


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sdist")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "-d", str(folder)], cwd=ROOT, check=True, capture_output=True
    )
    (archive,) = folder.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        metadata = email.message_from_bytes(tar.extractfile(f"{tar.getnames()[0].split('/')[0]}/PKG-INFO").read())
    return names, metadata


def test_the_sdist_holds_runnable_tests_the_docs_and_the_example(sdist):
    names, _ = sdist
    for shipped in (
        "LICENSE",
        "CHANGELOG.rst",
        "SECURITY.md",
        "Makefile",
        "tests/conftest.py",
        "tests/wire_server.py",
        "docs/conf.py",
        "docs/_ext/configtable.py",
        "docs/quickstart.rst",
        "examples/app.py",
        "examples/static/index.html",
        "flask_auth_service_mongo/py.typed",
        "flask_auth_service_mongo/templates/auth/mail/confirm_email.txt",
    ):
        assert shipped in names, shipped
    assert not any(name.startswith("docs/_build") for name in names)


def test_the_metadata_names_the_version_license_python_and_extras(sdist):
    _, metadata = sdist
    assert metadata["Version"] == flask_auth_service_mongo.__version__
    assert metadata["License-File"] == "LICENSE" or "LICENSE" in metadata.get_all("License-File", [])
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata.get_all("Project-URL")
    assert {"mongomock", "metrics", "demo", "test"} <= set(metadata.get_all("Provides-Extra"))

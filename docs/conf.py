"""Sphinx configuration of the flask-auth-service-mongo docs.

Build: ``make docs`` (``sphinx-build -W -b html docs docs/_build``).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE / "_ext")]

import flask_auth_service_mongo  # noqa: E402  (from the checkout, above)

project = "flask-auth-service-mongo"
author = "flask-auth-service-mongo contributors"
copyright = "the flask-auth-service-mongo contributors"
release = version = flask_auth_service_mongo.__version__

extensions = ["sphinx.ext.autodoc", "configtable"]
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "exclude-members": "DoesNotExist, MultipleObjectsReturned"}
# Types of the untyped libraries show up in signatures; do not chase them.
nitpicky = False
html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["custom.css"]

"""Sphinx configuration of the flask-auth-service-mongo docs.

Build: ``make docs`` (``sphinx-build -W -b html docs docs/_build``).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE / "_ext")]

project = "flask-auth-service-mongo"
author = "flask-auth-service-mongo contributors"
copyright = "the flask-auth-service-mongo contributors"
release = version = "0.2.0"

extensions = ["sphinx.ext.autodoc", "configtable"]
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "exclude-members": "DoesNotExist, MultipleObjectsReturned"}
# Types of the untyped libraries show up in signatures; do not chase them.
nitpicky = False
html_theme = "alabaster"
html_static_path: list = []

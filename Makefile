# Every target sets itself up: it creates .venv when missing and (re)installs
# the package when setup.cfg changed. Needs only Python 3 and make.
#
#   make run         the example admin API on the in-memory backend
#   make test        the test suite (set MONGODB_URI to run it on a server)
#   make lint        ruff check and ruff format --check
#   make typecheck   mypy --strict on the package
#   make docs        the Sphinx docs, warnings as errors, into docs/_build

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: install run test lint typecheck docs clean

install: $(VENV)/.installed-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per set of extras, redone when the requirements change.
$(VENV)/.installed-%: setup.cfg setup.py | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[$*]'
	@touch $@

run: $(VENV)/.installed-demo
	@echo " * the example admin API, on the in-memory backend (its data goes when it stops)"
	@echo " * the page:   http://$(HOST):$(PORT)/"
	@echo " * Swagger UI: http://$(HOST):$(PORT)/admin/docs"
	@echo " * GraphQL:    http://$(HOST):$(PORT)/admin/graphql (POST)"
	@env -u MONGODB_URI $(BIN)/flask --app examples.app run --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

docs: $(VENV)/.installed-docs
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build

clean:
	rm -rf docs/_build .pytest_cache .mypy_cache .coverage

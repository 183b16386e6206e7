# Opslog: `make run` for a demo on this machine, `make test` for the whole suite, `make docs` for the docs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format install install-dev migrate demo clean webhook-examples axe-core docs docs-build

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Opslog needs Python 3.11 or newer (found %s); set PYTHON=python3.x" % sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The embedded default: SQLite in the project folder, tasks in-process. DEBUG is off, so the demo
# shows the app's own error pages (not Django's debug pages, which list every URL); WhiteNoise serves
# the collected static files. A fresh secret key each run: it only signs this demo's sessions.
DEMO_DAYS ?= 730

run: export DJANGO_DEBUG ?= false
run: export DJANGO_SECRET_KEY ?= $(shell $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')
run: install
	$(BIN)/python manage.py migrate --no-input
	@# seed_demo makes the demo login only with DEBUG on: a known password is for this demo alone.
	DJANGO_DEBUG=true $(BIN)/python manage.py seed_demo --days $(DEMO_DAYS)
	$(BIN)/python manage.py seed_demo_trackers
	$(BIN)/python manage.py collectstatic --no-input -v 0
	@echo "Serving Opslog on http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# GitHub's published webhook payloads (npm package, pinned) for tests/deploys/test_hooks_github.py.
# Without npm the target says so and those tests skip, except in CI (CI set), where they fail.
OCTOKIT_EXAMPLES_VERSION := 7.6.1
OCTOKIT_EXAMPLES := .cache/octokit/node_modules/@octokit/webhooks-examples

webhook-examples:
	@if grep -qs '"version": "$(OCTOKIT_EXAMPLES_VERSION)"' $(OCTOKIT_EXAMPLES)/package.json; then \
	  :; \
	elif command -v npm >/dev/null 2>&1; then \
	  echo "npm install @octokit/webhooks-examples@$(OCTOKIT_EXAMPLES_VERSION) into .cache/octokit"; \
	  npm install --no-save --no-audit --no-fund --prefix .cache/octokit \
	    @octokit/webhooks-examples@$(OCTOKIT_EXAMPLES_VERSION) \
	    || echo "npm install failed: the GitHub webhook payload tests will skip (and fail in CI)"; \
	else \
	  echo "npm not found: the GitHub webhook payload tests will skip (and fail in CI)"; \
	fi

# axe-core (npm package, pinned) for the accessibility checks of tests/browser/test_accessibility.py.
# Without npm the target says so and those tests skip, except in CI (CI set), where they fail.
AXE_CORE_VERSION := 4.10.3
AXE_CORE := .cache/axe-core/node_modules/axe-core

axe-core:
	@if grep -qs '"version": "$(AXE_CORE_VERSION)"' $(AXE_CORE)/package.json; then \
	  :; \
	elif command -v npm >/dev/null 2>&1; then \
	  echo "npm install axe-core@$(AXE_CORE_VERSION) into .cache/axe-core"; \
	  npm install --no-save --no-audit --no-fund --prefix .cache/axe-core axe-core@$(AXE_CORE_VERSION) \
	    || echo "npm install failed: the accessibility tests will skip (and fail in CI)"; \
	else \
	  echo "npm not found: the accessibility tests will skip (and fail in CI)"; \
	fi

test: install-dev webhook-examples axe-core
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Ruff (lint and format check) and the one-way dependencies between the apps (import-linter).
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The documentation site (mkdocs.yml, docs/): served while you edit it, or built strictly into site/ as CI does.
DOCS_PORT ?= 8001

docs: install-dev
	$(BIN)/mkdocs serve --dev-addr $(HOST):$(DOCS_PORT)

docs-build: install-dev
	$(BIN)/mkdocs build --strict

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache site

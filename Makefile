# Two commands from a fresh clone:  make demo   (runs the loop)   make test   (runs the tests)
# Both create .venv in the project and install the pinned requirements on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ct-installed

.PHONY: help demo serve test test-unit lint run airflow celery-up celery-down clean browser

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

help:  ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' | awk -F'\t' '{gsub(/\$$\$$/, "$$", $$2); printf "  make %-12s %s\n", $$1, $$2}'

demo: $(STAMP)  ## generate demo data and drive it through the real DAGs on the embedded default
	$(BIN)/ct demo

serve: $(STAMP)  ## ct serve on the demo's champion (make demo first); prints a curl of /predict with its token
	$(BIN)/python -m scripts.serve_demo $(if $(SERVE_PORT),--port $(SERVE_PORT))

test: lint browser  ## lint, then the default test run (PostgreSQL tests skip, and say so, when no server is up)
	$(BIN)/python -m pytest

# Style, types and layers; configured in pyproject.toml (ruff, mypy) and .importlinter (import contracts).
LINT_PATHS := pipeline plugins dags tests scripts bench
lint: $(STAMP)  ## ruff (lint + format check), mypy on pipeline/ and plugins/, import contracts
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	@if [ -f .importlinter ]; then echo "PYTHONPATH=.:plugins $(BIN)/lint-imports"; PYTHONPATH=.:plugins $(BIN)/lint-imports; fi

# Debian's chromium for the trigger-form test (tests/e2e/test_trigger_form.py); Playwright drives it and
# never downloads a browser. Installed once when missing; if that fails the test skips and says why
# (CT_REQUIRE_BROWSER=1, set by .ci/run, makes it fail instead).
browser:
	@test -x /usr/bin/chromium || { export DEBIAN_FRONTEND=noninteractive; echo "installing chromium (apt-get)"; \
	  apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; } || \
	  echo "could not install chromium with apt-get; the browser test will skip" >&2; }

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

run: $(STAMP)  ## process whatever is in $$CT_HOME/landing through the DAGs
	$(BIN)/ct run

airflow: $(STAMP)  ## a real Airflow (standalone) on 127.0.0.1, DAGs unpaused once it answers; prints URL + password file
	CT_INGEST_CRON='* * * * *' CT_LANDING_POKE_SECONDS=10 $(BIN)/ct standalone

celery-up: $(STAMP)  ## the production topology natively: CeleryExecutor, local Redis + PostgreSQL, 2 workers
	$(BIN)/python -m scripts.celery_topology up

celery-down:  ## stop it (add --drop by hand to delete its databases: python -m scripts.celery_topology down --drop)
	$(BIN)/python -m scripts.celery_topology down

clean:  ## remove the demo data directory (keeps .venv)
	rm -rf data

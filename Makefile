# NeutroWatch: `make run` starts the app with demo data; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# `make run PORT=8001 MLLP_PORT=2576` serves on other ports; REDIS_URL and DATABASE_URL are read from the environment.
PORT ?= 8000
MLLP_PORT ?= 2575

.PHONY: run test lint prod-check bench-scale bench-load bench bench-forecast bench-pipeline bench-pages bench-import bench-mllp bench-save bench-cohorts venv vendor chromium clean

venv: $(VENV)/.installed
# The development venv has the runtime requirements and the test tools (requirements-dev.txt);
# a production deployment installs requirements.txt alone (docs/operations.md).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@echo "First run: creating $(VENV) and installing the Python packages. This takes a few minutes and needs"
	@echo "the network; later runs skip it and start in about 15 seconds."
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

# Front-end libraries (plotly.js basic bundle, htmx, axe-core) are committed in static/vendor/;
# `make vendor` fetches their pinned versions from the npm registry again (checked by integrity).
vendor:
	bash scripts/vendor.sh

# The demo accounts are printed last, once the server answers (scripts/run.sh); load_demo's own output
# (and the password it made up on the first run) is kept in var/.
run: venv
	@mkdir -p var/log
	@echo "Preparing the database and the demo patients (about 10 seconds; migrations take longer the first time)."
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo > var/log/load-demo.log
	@grep -q '^  password: unchanged' var/log/load-demo.log || sed -n '/^Demo accounts/,$$p' var/log/load-demo.log > var/demo-accounts.txt
	PORT=$(PORT) MLLP_PORT=$(MLLP_PORT) bash scripts/run.sh

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Browser tests need Chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# ruff, and the import contract of .importlinter (entry points over the domain over models over the
# pure rules; no import circles; the forecasting kernel imports no Django): docs/architecture.md.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	@# Tests share helpers through modules and conftest.py fixtures, never by importing another test module.
	@! grep -rnE '^\s*from tests\.[a-z_.]*\btest_[a-z0-9_]+ import' tests || { echo 'a test module imports another test module: move what it shares to a helper module or conftest.py'; exit 1; }

# Two passes: the whole suite on PostgreSQL, then again on SQLite (make run's embedded default) minus
# the tests that need a live worker or PostgreSQL itself (tests/conftest.py deselects them).
test: venv chromium lint
	DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest --ds=neutrowatch.settings_test $(PYTEST_ARGS)
	DATABASE_URL=sqlite:///:memory: $(PY) -m pytest --ds=neutrowatch.settings_test $(PYTEST_ARGS)

# The production deployment of deploy/ proven end to end: gunicorn with DJANGO_DEBUG=false, a worker per
# queue and beat on PostgreSQL and a private Redis, requests through a simulated TLS proxy.
prod-check: venv
	$(PY) -m pytest --ds=neutrowatch.settings_test tests/deploy/test_production.py -q $(PYTEST_ARGS)

bench: bench-forecast bench-save bench-pipeline bench-pages bench-import bench-mllp

bench-forecast: venv
	$(PY) bench/forecast.py

# Misspecified cohorts of seven shapes, each forecast by the engine and by its true-model oracle
# (adaptive importance sampling): prints engine / oracle per cohort. About 10-12 CPU minutes on one
# core; COHORT_ARGS="--cohort sensitivity --by-regimen" for one cohort (docs/forecasting.md).
bench-cohorts: venv
	$(PY) bench/cohorts/run.py $(COHORT_ARGS)

# One result saved 300 times over 100 patients: time, queries and Python CPU per save (no worker).
bench-save: venv
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/save_cost.py

bench-pipeline: venv
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/pipeline.py

bench-pages: venv chromium
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/pages.py

# Throughput of the recompute pipeline with 2 and then 4 worker processes (the 2,000-result burst).
bench-scale: venv
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/scale.py

# Twenty nurses on the ward and patient pages while 2,000 results arrive one by one and as one file,
# against gunicorn and a worker per queue as deployed: page p50/p95/max, errors, forecast freshness.
bench-load: venv
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/load.py

bench-import: venv
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/import_csv.py

bench-mllp: venv
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/mllp.py

clean:
	rm -rf $(VENV) staticfiles test-artifacts

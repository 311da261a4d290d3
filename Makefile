# NeutroWatch: `make run` starts the app with demo data; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PLOTLY_JS := static/vendor/plotly.min.js

.PHONY: run test lint bench bench-forecast bench-pipeline bench-pages bench-import bench-mllp venv static chromium clean

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

# plotly.js is served from our own static files, copied from the pinned plotly package.
static: $(PLOTLY_JS)
$(PLOTLY_JS): $(VENV)/.installed
	mkdir -p static/vendor
	$(PY) -c "import plotly, pathlib, shutil; shutil.copy(pathlib.Path(plotly.__file__).parent / 'package_data' / 'plotly.min.js', '$(PLOTLY_JS)')"

run: venv static
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	bash scripts/run.sh

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Browser tests need Chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

lint: venv
	$(VENV)/bin/ruff check .

test: venv static chromium lint
	DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest --ds=neutrowatch.settings_test $(PYTEST_ARGS)

bench: bench-forecast bench-pipeline bench-pages bench-import bench-mllp

bench-forecast: venv
	$(PY) bench/forecast.py

bench-pipeline: venv
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/pipeline.py

bench-pages: venv static
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/pages.py

bench-import: venv
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/import_csv.py

bench-mllp: venv
	DJANGO_SETTINGS_MODULE=neutrowatch.settings_test $(PY) bench/mllp.py

clean:
	rm -rf $(VENV) staticfiles static/vendor test-artifacts

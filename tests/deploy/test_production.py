"""The production deployment of the README, proven: gunicorn with production settings, a worker per queue
and beat, on PostgreSQL and Redis, behind a (simulated) TLS proxy. `make prod-check` runs this alone.

Only what an operator runs is used: migrate, collectstatic, check --deploy, load_demo, then the
commands of deploy/systemd/. Requests carry `X-Forwarded-Proto: https` as the proxy in
deploy/nginx.conf sets it.
"""
from __future__ import annotations

import re
import secrets
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import pytest

from tests.deploy.conftest import SERVER_ERROR_IN_LOG, SUITE_ONLY_ENV, Browser, free_port, wait_for

pytestmark = [pytest.mark.deploy, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "prod-check-" + secrets.token_urlsafe(8)


def own_database() -> str:
    """Create (afresh) a database for this test next to the suite's own; return its URL."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    name = f"{db['NAME'].removeprefix('test_')}_prodcheck"
    url = urlsplit(f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres")
    with psycopg.connect(urlunsplit(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(url._replace(path=f"/{name}"))


def production_env(tmp_path: Path, redis_url: str, port: int) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k not in SUITE_ONLY_ENV}
    env.update(
        DJANGO_SETTINGS_MODULE="neutrowatch.settings", DJANGO_DEBUG="false", SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1,localhost", DATABASE_URL=own_database(), REDIS_URL=redis_url,
        STATIC_ROOT=str(tmp_path / "staticfiles"), GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2",
    )
    return env


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def start_services(processes, env: dict, tmp_path: Path) -> list[Path]:
    """Start what deploy/systemd/ starts (the MLLP listener aside); return their logs."""
    bin_dir = Path(sys.executable).parent
    services = {
        "web": [str(bin_dir / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "neutrowatch.wsgi"],
        "worker-celery": [sys.executable, "-m", "celery", "-A", "neutrowatch", "worker", "-Q", "celery", "-c", "1",
                          "-l", "info", "-n", f"celery-{env['GUNICORN_BIND']}@%h"],
        "worker-alerts": [sys.executable, "-m", "celery", "-A", "neutrowatch", "worker", "-Q", "alerts", "-c", "1",
                          "-l", "info", "-n", f"alerts-{env['GUNICORN_BIND']}@%h"],
        "worker-webhooks": [sys.executable, "-m", "celery", "-A", "neutrowatch", "worker", "-Q", "webhooks",
                            "-c", "1", "-l", "info", "-n", f"webhooks-{env['GUNICORN_BIND']}@%h"],
        "beat": [sys.executable, "-m", "celery", "-A", "neutrowatch", "beat", "-l", "info",
                 "--schedule", str(tmp_path / "celerybeat-schedule")],
    }
    logs = []
    for name, args in services.items():
        logs.append(tmp_path / f"{name}.log")
        processes.start(args, cwd=REPO, env=env, log=logs[-1])
    return logs


def ward_row(ward: str, patient_id: str) -> str:
    return next(row for row in ward.split('<tr class="risk-row')[1:] if f'data-patient="{patient_id}"' in row)


def test_gunicorn_with_production_settings_workers_and_beat(tmp_path, private_redis, processes):
    port = free_port()
    env = production_env(tmp_path, private_redis, port)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    manage(env, "check", "--deploy", "--fail-level", "WARNING")
    manage(env, "load_demo", "--password", PASSWORD)
    logs = start_services(processes, env, tmp_path)
    plain, proxied = Browser(port), Browser(port, scheme="https")

    # The monitoring system polls /healthz over plain HTTP: 200 once beat and both workers reported in.
    wait_for(lambda: _status(plain, "/healthz") == 200, 180, "healthz did not turn 200 (workers, beat)")
    health = plain.request("GET", "/healthz")[1]
    assert '"database": "ok"' in health and '"broker": "ok"' in health and "DEMO-" not in health
    # Without the proxy's header, production settings send the browser to HTTPS.
    status, _, headers = plain.request("GET", "/")
    assert status == 301 and headers["Location"].startswith("https://")

    proxied.login("nurse", PASSWORD)
    status, ward, _ = proxied.get("/")
    assert status == 200 and "Ward overview" in ward
    patient_id = re.search(r'data-patient="(\d+)"', ward).group(1)
    status, page, _ = proxied.get(f"/patients/{patient_id}/")
    assert status == 200 and "fig-timeline" in page
    # Static files come from collectstatic's manifest (hashed names) through whitenoise.
    plotly = re.search(r'src="(/static/vendor/plotly-basic\.min\.[0-9a-f]{12}\.js)"', page)
    assert plotly, "the patient page does not load plotly.js from the static manifest"
    assert proxied.request("GET", plotly.group(1))[0] == 200
    assert proxied.get("/patients/99999999/")[0] == 404

    # A count typed in goes through the real worker: the ward's forecast is fresh again soon after.
    _, form, _ = proxied.get(f"/patients/{patient_id}/counts/new/")
    now = datetime.now(ZoneInfo("Europe/London")).strftime("%Y-%m-%dT%H:%M")
    status, _, _ = proxied.request(
        "POST", f"/patients/{patient_id}/counts/new/",
        {"csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1),
         "collected_at": now, "unit": "10^9/L", "anc": "0.3", "accession": "PROD-CHECK-1"},
        headers={"Referer": f"{proxied.origin}/patients/{patient_id}/counts/new/", "Origin": proxied.origin},
    )
    assert status == 302, "the count was not saved"
    wait_for(lambda: "Out of date" not in ward_row(proxied.get("/")[1], patient_id), 120,
             "the worker did not recompute the forecast")
    assert "0.3" in ward_row(proxied.get("/")[1], patient_id)

    errors = [line for log in logs for line in log.read_text(errors="replace").splitlines()
              if SERVER_ERROR_IN_LOG.search(line) and "/healthz" not in line]
    assert not errors, errors


def _status(browser: Browser, path: str) -> int | None:
    try:
        return browser.request("GET", path)[0]
    except OSError:
        return None

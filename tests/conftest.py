"""Shared fixtures: teams, users, patients made through the real write paths, a real Celery worker."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"


def load_regimen_catalogue() -> None:
    """(Re)load the shipped regimen catalogue; transactional tests truncate it away."""
    migration = importlib.import_module("monitoring.migrations.0002_regimen_catalogue")
    from django.apps import apps

    migration.load(apps, None)


@pytest.fixture
def regimens(db):
    from monitoring.models import Regimen

    if not Regimen.objects.exists():
        load_regimen_catalogue()
    return {r.code: r for r in Regimen.objects.all()}


@pytest.fixture
def team(db):
    from monitoring.models import Team

    return Team.objects.create(name="Oncology day unit", escalation_email="charge.nurse@example.org")


@pytest.fixture
def other_team(db):
    from monitoring.models import Team

    return Team.objects.create(name="Haematology ward")


def make_user(username: str, teams, role: str = "nurse"):
    from monitoring.models import User

    user = User.objects.create_user(username, f"{username}@example.org", PASSWORD, role=role,
                                    first_name=username.title())
    user.teams.set(teams)
    return user


@pytest.fixture
def nurse(team):
    return make_user("nurse", [team])


@pytest.fixture
def other_nurse(other_team):
    return make_user("othernurse", [other_team])


@pytest.fixture
def oncologist(team):
    return make_user("oncologist", [team], role="oncologist")


@pytest.fixture
def nurse_client(client, nurse):
    client.force_login(nurse)
    return client


def make_patient(team, mrn: str = "MRN001", nurse=None, **fields):
    from monitoring.models import Patient

    defaults = dict(given_name="Ada", family_name="Lovelace", date_of_birth="1960-03-04", sex="F")
    defaults.update(fields)
    return Patient.objects.create(mrn=mrn, team=team, responsible_nurse=nurse, **defaults)


@pytest.fixture
def patient(team, nurse):
    return make_patient(team, nurse=nurse)


@pytest.fixture
def other_patient(other_team):
    return make_patient(other_team, mrn="MRN999", given_name="Grace", family_name="Hopper")


def start_on_regimen(patient, regimen, *, days_ago: float = 5, n_cycles: int = 4, give: bool = True):
    """Put a patient on a regimen whose cycle 1 started `days_ago` days ago; return cycle 1."""
    from monitoring import services

    day1 = timezone.now() - timedelta(days=days_ago)
    course = services.start_course(patient, regimen, day1, n_cycles)
    cycle = course.cycles.get(number=1)
    if give:
        services.give_cycle(cycle, day1, Decimal("1.00"))
    return cycle


@pytest.fixture
def cycle(patient, regimens):
    return start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"])


# --- A real Celery worker on the real Redis, against the test database -------------------------

@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """Start a real `celery worker` subprocess that uses the test database; stop it at the end.

    Tests that use it must be `django_db(transaction=True)` so their writes are committed
    and visible to the worker.
    """
    from django.conf import settings

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "neutrowatch.settings_test"
    db = settings.DATABASES["default"]
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env["REDIS_URL"] = settings.REDIS_URL
    _purge_queue()
    log = open(REPO / "test-artifacts" / "celery-worker.log", "w") if _artifacts() else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "neutrowatch", "worker", "-l", "info", "-c", "2",
         "--without-gossip", "--without-mingle", "-n", f"test-{os.getpid()}@%h"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    _wait_for_worker(proc)
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _artifacts() -> bool:
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    return True


def _purge_queue() -> None:
    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")


def _wait_for_worker(proc, timeout: float = 60) -> None:
    from neutrowatch.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("celery worker exited at start-up; see test-artifacts/celery-worker.log")
        if app.control.ping(timeout=1.0):
            return
    raise RuntimeError("celery worker did not answer a ping within 60 s")


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


@pytest.fixture
def live_worker(celery_worker_process, transactional_db, regimens):
    """A running worker plus a transactional database with the regimen catalogue."""
    return celery_worker_process

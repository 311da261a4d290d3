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

from monitoring import treatment

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"

# Tests left out of the SQLite pass: they need a live Celery worker (which shares the database with
# the test process, impossible with SQLite's in-memory test database), PostgreSQL itself, or start
# the whole app in subprocesses (deploy: run once, in the PostgreSQL pass).
NEEDS_LIVE_WORKER = {"live_worker", "isolated_worker", "celery_worker_process"}
POSTGRES_PASS_ONLY_MARKERS = {"postgres", "browser", "deploy"}


def on_sqlite() -> bool:
    """Return True if this run's DATABASE_URL is SQLite (the second pass of `make test`)."""
    return os.environ.get("DATABASE_URL", "").startswith("sqlite:")


def pytest_collection_modifyitems(config, items):
    """On SQLite, deselect the tests that need a live worker or PostgreSQL; run all the others."""
    if not on_sqlite():
        return
    kept, dropped = [], []
    for item in items:
        needs_worker = NEEDS_LIVE_WORKER & set(getattr(item, "fixturenames", ()))
        needs_postgres = any(item.get_closest_marker(name) for name in POSTGRES_PASS_ONLY_MARKERS)
        (dropped if needs_worker or needs_postgres else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def load_regimen_catalogue() -> None:
    """(Re)load the shipped regimen catalogue and its corrections; transactional tests truncate it away."""
    migration = importlib.import_module("monitoring.migrations.0002_regimen_catalogue")
    from django.apps import apps

    migration.load(apps, None)
    importlib.import_module("monitoring.migrations.0008_catalogue_tc_high_risk").tc_high_risk(apps, None)
    importlib.import_module("monitoring.migrations.0014_regimen_infusion_hours").set_pump_hours(apps, None)
    importlib.import_module("monitoring.migrations.0025_whatif_plan").label_steps(apps, None)


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

    day1 = timezone.now() - timedelta(days=days_ago)
    course = treatment.start_course(patient, regimen, day1, n_cycles)
    cycle = course.cycles.get(number=1)
    if give:
        treatment.give_cycle(cycle, day1, Decimal("1.00"))
    return cycle


def record_anc(patient, when, value: str):
    """Record an ANC (10^9/L, typed as text) collected at `when` through the real write path; return it."""
    from monitoring import clinical, records

    return records.record_count(patient, clinical.parse_count(collected_at=when, unit="10^9/L", anc=Decimal(value)))


@pytest.fixture
def cycle(patient, regimens):
    return start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"])


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Create the test database as usual; before it is dropped, end any session still using it.

    A worker killed with SIGKILL or a thread that did not close its connection would
    otherwise keep the test database from being dropped at the end of the run.
    """
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )



@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    """Return run(write, *args): the write, with enqueued tasks run in-process as it commits."""
    from neutrowatch.celery import app

    app.conf.task_always_eager = True

    def run(write, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return write(*args, **kwargs)

    yield run
    app.conf.task_always_eager = False


def point_broker_at(url: str) -> None:
    """Make this process publish to `url` from now on (dropping pooled connections to the old one)."""
    from neutrowatch.celery import app

    app.conf.broker_url = url
    app._pool = None
    app.amqp.__dict__.pop("_producer_pool", None)
    app.amqp._producer_pool = None

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
         "-Q", ",".join(_session_queues()),
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


def _session_queues() -> list[str]:
    """The shared worker serves every queue (default, alerts, webhooks) of this Redis database."""
    from django.conf import settings

    return [settings.CELERY_TASK_DEFAULT_QUEUE, settings.NEUTROWATCH["ALERTS_QUEUE"],
            settings.NEUTROWATCH["WEBHOOKS_QUEUE"]]


def _purge_queue() -> None:
    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        for queue in _session_queues():
            conn.default_channel.queue_purge(queue)


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
    yield celery_worker_process
    # The database is truncated after the test: a task still running then (the alert rules after a
    # forecast a test waited for) deadlocks with the TRUNCATE and leaves the next test a dirty database.
    _wait_until_idle()


def _wait_until_idle(timeout: float = 60) -> None:
    from neutrowatch.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.connection_for_write() as conn:
            queued = conn.default_channel.client.llen("celery")  # Redis: a queue is a list
        inspect = app.control.inspect(timeout=1.0)
        busy = [task for tasks in (inspect.active() or {}).values() for task in tasks]
        busy += [task for tasks in (inspect.reserved() or {}).values() for task in tasks]
        if not queued and not busy:
            return
        time.sleep(0.1)


# --- Workers of one's own: on private queues, with their own environment, that can be killed ----

QUEUE_ROLES = ("celery", "alerts", "webhooks")  # default queue, deliveries + escalation, webhooks


class IsolatedWorker:
    """A `celery worker` subprocess consuming only private queues; the test process publishes there.

    For tests that must kill a worker (kill -9 of its whole process group) and restart it, run
    it with other settings (e.g. a real SMTP backend), or run separate workers per queue,
    without the shared session worker taking their tasks.
    """

    def __init__(self, name: str, queues: list[str], env: dict, concurrency: int = 1) -> None:
        self.name, self.queues, self.env, self.concurrency = name, queues, env, concurrency
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def nodename(self) -> str:
        return f"{self.name}-{self.starts}@{os.uname().nodename}"

    def start(self) -> None:
        self.starts += 1
        log = open(REPO / "test-artifacts" / f"{self.name}-{self.starts}.log", "w") if _artifacts() else None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "neutrowatch", "worker", "-l", "info", "-Q", ",".join(self.queues),
             "-c", str(self.concurrency), "--without-gossip", "--without-mingle", "-n", self.nodename],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        from neutrowatch.celery import app

        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[self.nodename], timeout=1.0):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.nodename} did not start; see test-artifacts/")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children: no clean shutdown, no acks."""
        import signal

        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def isolated_worker(transactional_db, regimens, settings):
    """Return start(extra_env=None, concurrency=1, roles=QUEUE_ROLES) -> IsolatedWorker.

    Each test gets private names for the three queues (default, alerts, webhooks); while it
    runs, this process publishes to them (the shared worker never sees those tasks). A worker
    consumes the queues of the `roles` given, so a test can run one worker per queue. Every
    worker started is stopped at the end. `start.queues` maps each role to its private name.
    """
    from neutrowatch.celery import app

    prefix = f"nw-isolated-{os.getpid()}"
    queues = {role: f"{prefix}-{role}" for role in QUEUE_ROLES}
    workers = []
    default_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queues["celery"]
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "ALERTS_QUEUE": queues["alerts"],
                            "WEBHOOKS_QUEUE": queues["webhooks"]}

    def env(extra_env: dict | None = None) -> dict:
        """The environment of a process (worker, beat) on this test's database and private queues."""
        db = settings.DATABASES["default"]
        # Tasks such a process publishes (recomputes, deliveries, retries) stay on the private queues.
        return {**os.environ, "DJANGO_SETTINGS_MODULE": "neutrowatch.settings_test", "REDIS_URL": settings.REDIS_URL,
                "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
                "CELERY_TASK_DEFAULT_QUEUE": queues["celery"], "CELERY_ALERTS_QUEUE": queues["alerts"],
                "CELERY_WEBHOOKS_QUEUE": queues["webhooks"], **(extra_env or {})}

    def start(extra_env: dict | None = None, concurrency: int = 1, roles=QUEUE_ROLES) -> IsolatedWorker:
        worker = IsolatedWorker(f"{prefix}-{len(workers)}", [queues[r] for r in roles], env(extra_env), concurrency)
        worker.start()
        workers.append(worker)
        return worker

    start.queues, start.env = queues, env
    yield start
    app.conf.task_default_queue = default_queue
    for worker in workers:
        worker.stop()
    with app.connection_for_write() as conn:
        for queue in queues.values():
            conn.default_channel.queue_purge(queue)

"""Benchmark the recompute pipeline with a real worker: commit->alert latency and a lab burst.

usage: DJANGO_SETTINGS_MODULE=neutrowatch.settings_test python bench/pipeline.py [--patients 500] [--singles 100]
(`make bench-pipeline`). It creates its own database (NW_BENCH_DB, default nw_bench_pipeline, dropped and
re-created; REDIS_URL as set, else Redis database 8),
starts its own Celery worker (2 processes, on a private queue) and prints:
- latency from a single result's commit to its alert being in the inbox (p50, p95);
- a burst of 4 results for each of 500 patients (2,000 results, saved one by one as a lab
  interface would): seconds from the first save until every forecast is fresh;
- the same burst saved as one import (one transaction and one recompute per patient).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DB_NAME = os.environ.get("NW_BENCH_DB", "nw_bench_pipeline")
QUEUE = "nw-bench-pipeline"


def configure_environment(db_name: str = DB_NAME) -> None:
    """Point Django at the bench's own database and queue before it is set up."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neutrowatch.settings_test")
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/neutrowatch"))
    os.environ["DATABASE_URL"] = urlunsplit(base._replace(path=f"/{db_name}"))
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = QUEUE
    # Deliveries have queues of their own (monitoring/routing.py); private ones here too.
    os.environ["CELERY_ALERTS_QUEUE"] = f"{QUEUE}-alerts"
    os.environ["CELERY_WEBHOOKS_QUEUE"] = f"{QUEUE}-webhooks"


def recreate_database(db_name: str = DB_NAME) -> None:
    import psycopg

    admin = urlsplit(os.environ["DATABASE_URL"])._replace(path="/postgres")
    with psycopg.connect(urlunsplit(admin), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db_name}")


def start_worker(concurrency: int = 2) -> subprocess.Popen:
    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        for queue in (QUEUE, f"{QUEUE}-alerts", f"{QUEUE}-webhooks"):
            conn.default_channel.queue_purge(queue)
    log = open(Path("/tmp") / "nw-bench-pipeline-worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "neutrowatch", "worker", "-l", "warning", "-Q",
         f"{QUEUE},{QUEUE}-alerts,{QUEUE}-webhooks", "-c", str(concurrency),
         "--without-gossip", "--without-mingle", "-n", f"bench-{os.getpid()}@%h"],
        cwd=REPO, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[f"bench-{os.getpid()}@{os.uname().nodename}"], timeout=1.0):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the bench worker did not start; see /tmp/nw-bench-pipeline-worker.log")
    return worker


def make_cohort(n_patients: int):
    """Return (patient, cycle 1) pairs: docetaxel 75 q3w, given 6 days ago."""
    from django.utils import timezone

    from monitoring import treatment
    from monitoring.models import Patient, Regimen, Team, User

    team = Team.objects.create(name="Bench ward", escalation_email="charge@example.org")
    nurse = User.objects.create_user("bench-nurse", "nurse@example.org", "x" * 12)
    nurse.teams.add(team)
    regimen = Regimen.objects.get(code="DOCETAXEL-75-Q3W")
    day1 = timezone.now() - timedelta(days=6)
    cohort = []
    for n in range(n_patients):
        patient = Patient.objects.create(mrn=f"B{n:05d}", given_name="Bench", family_name=f"Patient{n}",
                                         date_of_birth="1970-01-01", team=team, responsible_nurse=nurse)
        course = treatment.start_course(patient, regimen, day1, 4)
        cycle = course.cycles.get(number=1)
        treatment.give_cycle(cycle, day1)
        cohort.append((patient, cycle))
    return cohort


def count(hours_ago: float, anc: str, accession: str):
    from django.utils import timezone

    from monitoring import clinical


    return clinical.parse_count(collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L",
                                anc=Decimal(anc), accession=accession)


def wait_all_fresh(timeout: float = 600) -> float:
    from monitoring import selectors

    started = time.monotonic()
    while selectors.stale_cycle_ids(limit=1):
        if time.monotonic() - started > timeout:
            raise SystemExit(f"forecasts still stale after {timeout} s")
        time.sleep(0.05)
    return time.monotonic()


def single_latencies(cohort, n: int) -> list[float]:
    """Save one grade 4 count at a time; time from its commit until its alert can be read."""
    from django.db import transaction

    from monitoring import records
    from monitoring.models import Alert

    latencies = []
    for i, (patient, cycle) in enumerate(cohort[:n]):
        committed = {}
        with transaction.atomic():
            transaction.on_commit(lambda c=committed: c.setdefault("at", time.perf_counter()))
            records.record_count(patient, count(1, "0.3", f"single-{i}"))
        while not Alert.objects.filter(cycle=cycle, kind=Alert.Kind.GRADE4_OBSERVED).exists():
            time.sleep(0.002)
        latencies.append(time.perf_counter() - committed["at"])
    return latencies


def burst_one_by_one(cohort, tag: str) -> float:
    """Save 4 counts per patient, one transaction each, in lab order (round by round)."""
    from monitoring import records


    started = time.monotonic()
    for round_, (hours_ago, anc) in enumerate(((70, "2.1"), (46, "1.2"), (22, "0.8"), (2, "0.6"))):
        for i, (patient, _) in enumerate(cohort):
            records.record_count(patient, count(hours_ago - 0.5 * (i % 3), anc, f"{tag}-{round_}-{i}"))
    saved = time.monotonic()
    print(f"  saved {4 * len(cohort):,} results one by one in {saved - started:.1f} s")
    return wait_all_fresh() - started


def burst_as_import(cohort, tag: str) -> float:
    """Save the same kind of batch as an import: one record_counts call per patient."""
    from monitoring import records


    started = time.monotonic()
    for i, (patient, _) in enumerate(cohort):
        records.record_counts(patient, [count(h - 0.25, a, f"{tag}-{r}-{i}") for r, (h, a) in
                                         enumerate(((69, "2.0"), (45, "1.1"), (21, "0.7"), (1.5, "0.5")))])
    return wait_all_fresh() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--singles", type=int, default=100)
    args = parser.parse_args(argv[1:])
    configure_environment()
    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    worker = start_worker()
    try:
        print(f"database {DB_NAME}, worker: 2 processes on queue {QUEUE}, {os.cpu_count()} CPU(s)")
        started = time.monotonic()
        cohort = make_cohort(args.patients)
        wait_all_fresh()
        print(f"cohort: {args.patients} patients on docetaxel 75 q3w, day 7; first forecasts in "
              f"{time.monotonic() - started:.1f} s")
        latencies = sorted(single_latencies(cohort, args.singles))
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        print(f"commit -> alert in inbox, {len(latencies)} single results: "
              f"p50 {statistics.median(latencies) * 1000:.0f} ms  p95 {p95 * 1000:.0f} ms  "
              f"max {latencies[-1] * 1000:.0f} ms")
        wait_all_fresh()
        total = args.patients * 4
        print(f"burst: {total:,} results over {args.patients} patients, one by one")
        print(f"  every forecast fresh {burst_one_by_one(cohort, 'burst'):.1f} s after the first save")
        print(f"burst: {total:,} results over {args.patients} patients, as one import (record_counts per patient)")
        print(f"  every forecast fresh {burst_as_import(cohort, 'import'):.1f} s after the first save")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

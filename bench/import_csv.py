"""Benchmark the CSV import: 100,000 rows over 1,000 patients into PostgreSQL, then forecast freshness.

usage: make bench-import   (DJANGO_SETTINGS_MODULE=neutrowatch.settings_test)
       python bench/import_csv.py [--patients 1000] [--rows-per-patient 100] [--workers 2] [--skip-forecasts]

Prints (1) rows per second of `import_results`' code path (parse, validate, dedupe, store with
history, in one transaction) and (2) the time from the end of the import until every forecast
the import made stale is fresh again, with a real Celery worker the script starts itself.
It uses its own database (BENCH_DATABASE_URL, default .../nw_bench_import, dropped and
recreated) and its own Redis database (BENCH_REDIS_URL, default redis://127.0.0.1:6379/4).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nw_bench_import")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["REDIS_URL"] = REDIS_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neutrowatch.settings_test")


def recreate_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def build_cohort(n_patients: int, now) -> list:
    """Create patients on docetaxel q3w with three cycles given over the last 60 days (bulk, no tasks)."""
    from monitoring.models import ChemoAdministration, Cycle, Patient, Regimen, Team, TreatmentCourse

    team = Team.objects.create(name="Bench unit")
    regimen = Regimen.objects.get(code="DOCETAXEL-75-Q3W")
    patients = Patient.objects.bulk_create(
        Patient(mrn=f"B{n:05d}", given_name="Bench", family_name=f"Patient {n}", date_of_birth="1958-06-01",
                team=team)
        for n in range(n_patients)
    )
    first_day1 = now - timedelta(days=60)
    courses = TreatmentCourse.objects.bulk_create(
        TreatmentCourse(patient=p, regimen=regimen, started_on=first_day1.date()) for p in patients
    )
    cycles = Cycle.objects.bulk_create(
        Cycle(course=c, number=n + 1, planned_day1=first_day1 + timedelta(days=21 * n),
              actual_day1=first_day1 + timedelta(days=21 * n) if n < 3 else None,
              status=Cycle.Status.GIVEN if n < 3 else Cycle.Status.PLANNED)
        for c in courses for n in range(4)
    )
    ChemoAdministration.objects.bulk_create(
        ChemoAdministration(cycle=c, day_of_cycle=1, given_at=c.actual_day1) for c in cycles if c.actual_day1
    )
    return patients


def csv_text(patients, rows_per_patient: int, now) -> str:
    from django.utils import timezone

    rng = random.Random(20240501)
    units = [("10^9/L", Decimal("1")), ("K/uL", Decimal("1")), ("cells/uL", Decimal("1000"))]
    lines = ["mrn,collected_at,anc,wbc,neutrophil_pct,band_pct,unit,accession"]
    span_h = 59 * 24
    for patient in patients:
        level = rng.uniform(0.5, 5.0)
        for n in range(rows_per_patient):
            when = now - timedelta(days=60) + timedelta(hours=12 + span_h * n / rows_per_patient)
            unit, factor = units[n % 3]
            # A random walk between 0.2 and 6.0 that moves at most about 2.2 times from one count to the
            # next, like a real patient's counts (the import's delta check holds a 10-fold jump back).
            level = min(max(level * math.exp(rng.uniform(-0.8, 0.8)), 0.2), 6.0)
            anc = Decimal(str(round(level, 2))) * factor
            # With the UTC offset: a bare local time in the hour the clocks go back is refused as ambiguous.
            stamp = timezone.localtime(when).isoformat(timespec="minutes")
            if n % 4 == 0:  # a quarter as WBC + differential (55 % segmented + 3 % bands)
                wbc = Decimal(str(round(level / 0.58, 2))) * factor
                lines.append(f"{patient.mrn},{stamp},,{wbc},55,3,{unit},{patient.mrn}-{n}")
            else:
                lines.append(f"{patient.mrn},{stamp},{anc},,,,{unit},{patient.mrn}-{n}")
    return "\n".join(lines) + "\n"


def start_worker(concurrency: int) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "neutrowatch", "worker", "-l", "warning", "-c", str(concurrency),
         "--without-gossip", "--without-mingle", "-n", f"bench-import-{os.getpid()}@%h"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stale_count(targets: dict[int, int]) -> int:
    from monitoring.models import Forecast

    fresh = Forecast.objects.filter(cycle_id__in=list(targets)).values_list("cycle_id", "input_version")
    return len(targets) - sum(1 for cycle_id, version in fresh if version >= targets[cycle_id])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--rows-per-patient", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--skip-forecasts", action="store_true", help="stop after the import (no worker)")
    args = parser.parse_args()

    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from monitoring.labfeed import importers
    from monitoring.labfeed.importers import csv_format
    from monitoring.models import Cycle
    from monitoring.models.results import Source
    from neutrowatch.celery import app

    call_command("migrate", verbosity=0)
    now = timezone.now()
    patients = build_cohort(args.patients, now)
    text = csv_text(patients, args.rows_per_patient, now)
    n_rows = args.patients * args.rows_per_patient
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    print(f"CSV: {n_rows:,} rows over {args.patients:,} patients, {len(text) / 1e6:.1f} MB; database {DATABASE_URL}")

    started = time.perf_counter()
    csv_format.parse(text)
    parse_s = time.perf_counter() - started
    versions_before = dict(Cycle.objects.values_list("pk", "input_version"))
    started = time.perf_counter()
    report = importers.import_file("bench.csv", text.encode(), source=Source.IMPORT)
    import_s = time.perf_counter() - started
    if not report.ok:
        print("import refused or rows kept:", *report.problems[:10], sep="\n  ")
        return 1
    print(f"import: {report.summary()}")
    print(f"  parse only        {parse_s:7.2f} s  ({n_rows / parse_s:,.0f} rows/s)")
    print(f"  whole import      {import_s:7.2f} s  ({n_rows / import_s:,.0f} rows/s, target >= 5,000 rows/s)")

    again = time.perf_counter()
    second = importers.import_file("bench.csv", text.encode(), source=Source.IMPORT)
    print(f"  same file again   {time.perf_counter() - again:7.2f} s  ({second.created} created, "
          f"{second.duplicates:,} duplicates)")

    if args.skip_forecasts:
        return 0
    targets = {pk: v for pk, v in Cycle.objects.values_list("pk", "input_version") if v > versions_before.get(pk, 0)}
    print(f"forecasts made stale: {len(targets):,} cycles; starting a worker with concurrency {args.workers}")
    worker = start_worker(args.workers)
    try:
        started = time.perf_counter()
        last_print = started
        while (remaining := stale_count(targets)) and time.perf_counter() - started < args.timeout:
            if time.perf_counter() - last_print > 15:
                print(f"  ... {remaining:,} stale after {time.perf_counter() - started:.0f} s", flush=True)
                last_print = time.perf_counter()
            time.sleep(0.5)
        fresh_s = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    if remaining:
        print(f"  {remaining:,} forecasts still stale after {args.timeout:.0f} s")
        return 1
    print(f"  every affected forecast fresh after {fresh_s:.1f} s "
          f"({len(targets) / fresh_s:.1f} cycles/s, worker start-up included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

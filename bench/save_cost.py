"""Time one result's save and count its queries: record_count (form, API) and record_batch (imports, MLLP).

usage: DJANGO_SETTINGS_MODULE=neutrowatch.settings_test python bench/save_cost.py [--patients 100] [--saves 400]
It uses its own database (NW_BENCH_DB, default nw_bench_save, dropped and re-created) and a private
queue that it purges (no worker: the recomputes are published, as a save does, and left). Prints the
median and p95 time per save, the queries per save and the time in results_changed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import pipeline  # noqa: E402  (the pipeline bench's database and cohort helpers)

DB_NAME = os.environ.get("NW_BENCH_DB", "nw_bench_save")


def timed_saves(cohort, n: int, save) -> tuple[list[float], list[int], list[float], list[float]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext


    inner: list[float] = []
    from monitoring.records import batches, counts

    original = counts.results_changed

    def timed_results_changed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            inner.append(time.perf_counter() - started)

    counts.results_changed = batches.results_changed = timed_results_changed
    times, queries, cpu = [], [], []
    try:
        for i in range(n):
            patient, _ = cohort[i % len(cohort)]
            connection.queries_log.clear()  # CaptureQueriesContext counts within a bounded log
            with CaptureQueriesContext(connection) as captured:
                started, started_cpu = time.perf_counter(), time.process_time()
                save(patient, i)
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
            queries.append(len(captured))
    finally:
        counts.results_changed = batches.results_changed = original
    return times, queries, inner, cpu


def report(label: str, times: list[float], queries: list[int], inner: list[float], cpu: list[float]) -> None:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(f"{label}: {len(times)} saves, median {statistics.median(times) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
          f"queries per save {min(queries)}-{max(queries)} (median {statistics.median(queries):.0f}); "
          f"results_changed median {statistics.median(inner) * 1000:.1f} ms; "
          f"this process's CPU median {statistics.median(cpu) * 1000:.1f} ms")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--saves", type=int, default=400)
    parser.add_argument("--show", action="store_true", help="print the queries of one record_batch save")
    args = parser.parse_args(argv[1:])
    pipeline.configure_environment(DB_NAME)
    pipeline.recreate_database(DB_NAME)
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from monitoring import clinical, records
    from monitoring.models.results import Source
    from neutrowatch.celery import app

    call_command("migrate", verbosity=0)
    cohort = pipeline.make_cohort(args.patients)

    def by_record_count(patient, i):
        records.record_count(patient, pipeline.count(30 - (i % 20), "1.4", f"rc-{i}"))

    def by_record_batch(patient, i):
        count = clinical.parse_count(collected_at=timezone.now() - timedelta(hours=50 - (i % 20)), unit="10^9/L",
                                     anc=Decimal("1.3"), accession=f"rb-{i}")
        records.record_batch(records.ResultBatch([(patient, count)], [], [], [], []), source=Source.MLLP)

    for label, save in (("record_count", by_record_count), ("record_batch", by_record_batch)):
        report(label, *timed_saves(cohort, args.saves, save))
    if args.show:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            by_record_batch(cohort[1][0], 10**6)
        for query in captured:
            print("  ", query["sql"][:300])
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(pipeline.QUEUE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

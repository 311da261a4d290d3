"""How the recompute pipeline's throughput grows with worker processes: the 2,000-result burst, 2 then 4.

usage: DJANGO_SETTINGS_MODULE=neutrowatch.settings_test python bench/scale.py [--patients 500] [--workers 2 4]
(`make bench-scale`). For each worker size it re-creates its own database (nw_bench_scale), starts one
Celery worker with that many processes on a private queue, builds the 500-patient cohort and prints
results per second until every forecast is fresh, for the burst saved one by one (as a lab interface
sends it: one producer) and the same burst saved as one import per patient (500 recomputes at once).
It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import pipeline

DB_NAME = "nw_bench_scale"


def run(n_patients: int, processes: int) -> dict[str, float]:
    """Return results per second for both bursts with a worker of `processes` processes."""
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    pipeline.recreate_database(DB_NAME)
    call_command("migrate", verbosity=0)
    worker = pipeline.start_worker(concurrency=processes)
    try:
        cohort = pipeline.make_cohort(n_patients)
        pipeline.wait_all_fresh()
        results = 4 * n_patients
        one_by_one = pipeline.burst_one_by_one(cohort, "burst")
        as_import = pipeline.burst_as_import(cohort, "import")
        return {"one by one": results / one_by_one, "as import": results / as_import,
                "one by one s": one_by_one, "as import s": as_import}
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    args = parser.parse_args(argv[1:])
    pipeline.configure_environment(DB_NAME)
    pipeline.recreate_database(DB_NAME)
    import django

    django.setup()
    print(f"database {DB_NAME}, {os.cpu_count()} CPU(s), {4 * args.patients:,} results over {args.patients} patients")
    figures = {}
    for processes in args.workers:
        started = time.monotonic()
        figures[processes] = run(args.patients, processes)
        f = figures[processes]
        print(f"worker processes {processes}: one by one {f['one by one']:.0f} results/s "
              f"(all fresh after {f['one by one s']:.1f} s); as import {f['as import']:.0f} results/s "
              f"(all fresh after {f['as import s']:.1f} s)  [run took {time.monotonic() - started:.0f} s]")
    base = args.workers[0]
    for processes in args.workers[1:]:
        gain = {kind: figures[processes][kind] / figures[base][kind] for kind in ("one by one", "as import")}
        print(f"{processes} vs {base} processes: one by one x{gain['one by one']:.2f}, "
              f"as import x{gain['as import']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

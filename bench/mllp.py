"""Benchmark the HL7 v2 MLLP listener: ORU^R01 messages per second over one connection.

usage: make bench-mllp   (DJANGO_SETTINGS_MODULE=neutrowatch.settings_test)
       python bench/mllp.py [--messages 2000] [--patients 200]

Starts `manage.py mllp_listener --port 0` on its own database (BENCH_DATABASE_URL, default
.../nw_bench_mllp, dropped and recreated) and Redis database (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/9), then one client sends each message and waits for its ACK, which the
listener sends only after the message's transaction has committed and its recomputes (one per
affected cycle) have been enqueued. Prints messages per second, the ACK latency percentiles and
the ACK codes; then the same messages again (all duplicates: acknowledged AA, nothing stored).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nw_bench_mllp")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ["REDIS_URL"] = REDIS_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neutrowatch.settings_test")
VT, FS, CR = b"\x0b", b"\x1c", b"\r"


def recreate_database() -> None:
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def messages(patients, count: int, now) -> list[bytes]:
    from django.utils import timezone

    out = []
    for n in range(count):
        patient = patients[n % len(patients)]
        moment = timezone.localtime(now - timedelta(days=20) + timedelta(minutes=10 * n)).strftime("%Y%m%d%H%M%z")
        anc = 0.3 + (n % 50) / 10
        text = "\r".join([
            f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{moment}||ORU^R01|B{n}|P|2.5.1",
            f"PID|1||{patient.mrn}^^^HOSP^MR",
            f"OBR|1||BENCH-{n}||||{moment}",
            f"OBX|1|NM|751-8^Neutrophils^LN||{anc:.2f}|10*3/uL|||||F",
            f"OBX|2|NM|6690-2^WBC^LN||{anc * 2 + 1:.2f}|10*3/uL|||||F",
        ]) + "\r"
        out.append(VT + text.encode() + FS + CR)
    return out


def start_listener() -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL)
    proc = subprocess.Popen([sys.executable, "manage.py", "mllp_listener", "--port", "0"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("MLLP listener on"):
        raise SystemExit(f"the listener did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def send_all(port: int, frames: list[bytes]) -> tuple[float, list[float], Counter]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    latencies, codes, buffer = [], Counter(), b""
    started = time.perf_counter()
    for frame in frames:
        sent = time.perf_counter()
        sock.sendall(frame)
        while FS + CR not in buffer:
            buffer += sock.recv(65536)
        ack, buffer = buffer.split(FS + CR, 1)
        latencies.append(time.perf_counter() - sent)
        codes[ack.decode().split("MSA|", 1)[1][:2]] += 1
    elapsed = time.perf_counter() - started
    sock.close()
    return elapsed, latencies, codes


def report(label: str, elapsed: float, latencies: list[float], codes: Counter) -> None:
    ms = sorted(1000 * x for x in latencies)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(f"{label}: {len(ms)} messages in {elapsed:.1f} s = {len(ms) / elapsed:,.0f} messages/s "
          f"(goal >= 200); ACK p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms; codes {dict(codes)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--patients", type=int, default=200)
    args = parser.parse_args()

    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from monitoring.models import CountResult
    from neutrowatch.celery import app

    sys.path.insert(0, str(REPO / "bench"))
    from import_csv import build_cohort

    call_command("migrate", verbosity=0)
    now = timezone.now()
    patients = build_cohort(args.patients, now)
    frames = messages(patients, args.messages, now)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    listener, port = start_listener()
    try:
        print(f"{args.messages} ORU^R01 messages (ANC + WBC) over {args.patients} patients on docetaxel; "
              f"listener on port {port}, database {DATABASE_URL}")
        report("new results", *send_all(port, frames))
        print(f"  stored: {CountResult.objects.count()} counts")
        report("the same again (duplicates)", *send_all(port, frames))
        print(f"  stored: {CountResult.objects.count()} counts")
        with app.connection_for_write() as conn:
            queued = conn.default_channel.client.llen("celery")
        print(f"  recompute tasks enqueued (no worker running): {queued}")
    finally:
        listener.terminate()
        listener.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the HL7 v2 MLLP listener: ORU^R01 messages per second over one connection.

usage: make bench-mllp   (DJANGO_SETTINGS_MODULE=neutrowatch.settings_test)
       python bench/mllp.py [--messages 1000] [--pipelined 2000] [--windows 20,100] [--patients 200]

Starts `manage.py mllp_listener --port 0` on its own database (BENCH_DATABASE_URL, default
.../nw_bench_mllp, dropped and recreated) and Redis database (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/9). Over one connection each:
- a strict sender sends each message and waits for its ACK (one message in flight);
- pipelining senders keep a window of W messages in flight (20 and 100 by default), reading the
  ACKs as they come and checking that each one's MSA-2 names its message's MSH-10, in order;
- then the same messages again (all duplicates: acknowledged AA, nothing stored).
The listener ACKs a message only after its transaction has committed and its recomputes (one per
affected cycle) have been enqueued. Prints messages per second, the ACK latency percentiles, the
ACK codes, the counts stored and the recompute tasks enqueued (no worker running). About 2-3
minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
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


def messages(patients, numbers: range, total: int, now) -> list[tuple[str, bytes]]:
    """Return (MSH-10, frame) for messages `numbers` of `total`, spread in time order over the last 19 days.

    A patient's messages all carry the same ANC (no delta-check hold); accessions are unique.
    """
    from django.utils import timezone

    out = []
    for n in numbers:
        patient = patients[n % len(patients)]
        moment = timezone.localtime(now - timedelta(days=19, hours=1) + timedelta(days=19) * n / total)
        stamp = moment.strftime("%Y%m%d%H%M%z")
        anc = 0.3 + (n % 50) / 10
        text = "\r".join([
            f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{stamp}||ORU^R01|B{n}|P|2.5.1",
            f"PID|1||{patient.mrn}^^^HOSP^MR",
            f"OBR|1||BENCH-{n}||||{stamp}",
            f"OBX|1|NM|751-8^Neutrophils^LN||{anc:.2f}|10*3/uL|||||F",
            f"OBX|2|NM|6690-2^WBC^LN||{anc * 2 + 1:.2f}|10*3/uL|||||F",
        ]) + "\r"
        out.append((f"B{n}", VT + text.encode() + FS + CR))
    return out


def start_listener() -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL)
    proc = subprocess.Popen([sys.executable, "manage.py", "mllp_listener", "--port", "0"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("MLLP listener on"):
        raise SystemExit(f"the listener did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def send(port: int, messages: list[tuple[str, bytes]], window: int) -> tuple[float, list[float], Counter]:
    """Send the messages over one connection with up to `window` unacknowledged; check each ACK's MSA-2.

    window=1 is a strict sender (each message waits for the previous ACK).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    in_flight = threading.Semaphore(window)
    sent_at: list[float] = [0.0] * len(messages)
    latencies, codes, mismatches = [], Counter(), []

    def receive() -> None:
        buffer = b""
        for index, (control_id, _) in enumerate(messages):
            while FS + CR not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the listener closed the connection")
                buffer += chunk
            ack, buffer = buffer.split(FS + CR, 1)
            latencies.append(time.perf_counter() - sent_at[index])
            msa = ack.decode().split("MSA|", 1)[1].split("\r", 1)[0].split("|")
            codes[msa[0]] += 1
            if msa[1] != control_id:
                mismatches.append((control_id, msa[1]))
            in_flight.release()

    receiver = threading.Thread(target=receive)
    started = time.perf_counter()
    receiver.start()
    for index, (_, frame) in enumerate(messages):
        in_flight.acquire()
        sent_at[index] = time.perf_counter()
        sock.sendall(frame)
    receiver.join()
    elapsed = time.perf_counter() - started
    sock.close()
    if mismatches or len(latencies) != len(messages):
        raise SystemExit(f"ACKs out of order or missing: {mismatches[:5]} ({len(latencies)}/{len(messages)})")
    return elapsed, latencies, codes


def report(label: str, elapsed: float, latencies: list[float], codes: Counter) -> None:
    ms = sorted(1000 * x for x in latencies)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(f"{label}: {len(ms)} messages in {elapsed:.1f} s = {len(ms) / elapsed:,.0f} messages/s "
          f"(goal >= 200); ACK p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms; codes {dict(codes)}")


def queued_recomputes() -> tuple[int, int]:
    """Return (tasks in the default queue, cycles their recomputes name): a fan-out task names many."""
    import base64
    import json

    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        entries = conn.default_channel.client.lrange("celery", 0, -1)
    cycles = 0
    for entry in entries:
        message = json.loads(entry)
        args = json.loads(base64.b64decode(message["body"]))[0]
        name = message["headers"]["task"]
        cycles += len(args[0]) if name.endswith("recompute_cycles") else 1
    return len(entries), cycles


def run(label: str, port: int, batch: list[tuple[str, bytes]], window: int) -> None:
    from monitoring.models import CountResult

    tasks_before, cycles_before = queued_recomputes()
    stored_before = CountResult.objects.count()
    report(label, *send(port, batch, window))
    tasks, cycles = queued_recomputes()
    print(f"  stored: {CountResult.objects.count() - stored_before} counts; recomputes enqueued (no worker "
          f"running): {cycles - cycles_before} cycles in {tasks - tasks_before} tasks")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000, help="sent by the strict sender")
    parser.add_argument("--pipelined", type=int, default=2000, help="sent by each pipelining sender")
    parser.add_argument("--windows", default="20,100", help="messages in flight of the pipelining senders")
    parser.add_argument("--patients", type=int, default=200)
    args = parser.parse_args()
    windows = [int(w) for w in args.windows.split(",") if w.strip()]

    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from neutrowatch.celery import app

    sys.path.insert(0, str(REPO / "bench"))
    from import_csv import build_cohort

    call_command("migrate", verbosity=0)
    now = timezone.now()
    patients = build_cohort(args.patients, now)
    total = args.messages + args.pipelined * len(windows)
    strict = messages(patients, range(args.messages), total, now)
    pipelined = [messages(patients, range(args.messages + k * args.pipelined, args.messages + (k + 1) * args.pipelined),
                          total, now) for k in range(len(windows))]
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    listener, port = start_listener()
    try:
        print(f"ORU^R01 messages (ANC + WBC) over {args.patients} patients on docetaxel, one connection each; "
              f"listener on port {port}, database {DATABASE_URL}")
        run("strict sender (1 in flight), new results", port, strict, 1)
        for window, batch in zip(windows, pipelined, strict=True):
            run(f"pipelining sender ({window} in flight), new results", port, batch, window)
        run("strict sender, the same again (duplicates)", port, strict, 1)
        run(f"pipelining sender ({windows[-1] if windows else 1} in flight), the same again (duplicates)", port,
            [m for batch in pipelined for m in batch], windows[-1] if windows else 1)
    finally:
        listener.terminate()
        listener.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

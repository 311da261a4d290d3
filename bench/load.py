"""Twenty nurses on the ward and patient pages while 2,000 results arrive: page times and freshness.

usage: python bench/load.py [--patients 500] [--nurses 20] [--think 1.0] [--quiet 30] [--bursts one-by-one file]
       (`make bench-load`)

Issue 25, item 7, measured as deployed, on this machine, changing nothing in the product:
- gunicorn with deploy/gunicorn.conf.py (2 x cores + 1 sync workers) and production settings
  (DEBUG off, static files collected), reached as nginx would (plain HTTP on the loopback with
  `X-Forwarded-Proto: https`); a Celery worker per queue as deploy/systemd runs them (`celery` and
  `alerts`, 2 processes each, at the units' `Nice=` levels; no webhook is configured, so no webhooks
  worker); no beat.
- Its own database (NW_BENCH_DB, default nw_bench_load, dropped and re-created) and private queue
  names on REDIS_URL (default redis://127.0.0.1:6379/7).
- A ward of `--patients` patients on docetaxel (day 7), forecast before the clock starts.
- `--nurses` nurses, each in a loop: the ward overview (one time in four filtered: high risk or
  open alerts), then a random patient's page, with `--think` seconds between pages (a nurse
  reading), each through its own HTTP session. All nurses are of the ward's one team, so they
  share its rows (drawn at most once a second: views/ward_cache.py).
Phases: quiet (nurses only, `--quiet` seconds); 2,000 results (4 per patient) sent one by one
through POST /api/v1/results by one sender, as a lab interface does; the same number sent as one
CSV file in one request. A phase ends when every forecast is fresh.
For each phase it prints, per page, p50 / p95 / max in ms, requests and errors (any answer but 200,
or no answer within 60 s), and the seconds from the first and from the last result sent until every
forecast was fresh. It asserts nothing. The machine is shared: the figures carry its load too.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DB_NAME = os.environ.get("NW_BENCH_DB", "nw_bench_load")
QUEUE = f"nw-bench-load-{os.getpid()}"
LOGS = Path(tempfile.gettempdir()) / "nw-bench-load"
TIMEOUT_SECONDS = 60


def configure_environment() -> dict:
    """Point this process and the app's processes at the bench's own database, Redis and queues."""
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/neutrowatch"))
    os.environ["DATABASE_URL"] = urlunsplit(base._replace(path=f"/{DB_NAME}"))
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neutrowatch.settings_test")
    # Sessions made here must be valid in gunicorn: one key for both.
    os.environ["SECRET_KEY"] = "bench-load-" + os.urandom(32).hex()
    os.environ.update({"CELERY_TASK_DEFAULT_QUEUE": QUEUE, "CELERY_ALERTS_QUEUE": f"{QUEUE}-alerts",
                       "CELERY_WEBHOOKS_QUEUE": f"{QUEUE}-webhooks"})
    static_root = tempfile.mkdtemp(prefix="nw-bench-load-static-")
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "neutrowatch.settings", "DJANGO_DEBUG": "false",
            "STATIC_ROOT": static_root, "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "GUNICORN_LOG_LEVEL": "warning", "LOG_LEVEL": "WARNING"}


def recreate_database() -> None:
    import psycopg

    admin = urlsplit(os.environ["DATABASE_URL"])._replace(path="/postgres")
    with psycopg.connect(urlunsplit(admin), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(name: str, argv: list[str], env: dict) -> subprocess.Popen:
    LOGS.mkdir(exist_ok=True)
    log = open(LOGS / f"{name}.log", "w")
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def unit_nice(unit: str) -> list[str]:
    """Return the `nice` prefix for a command as deploy/systemd/<unit> runs it (its `Nice=`), or []."""
    for line in (REPO / "deploy" / "systemd" / unit).read_text().splitlines():
        if line.startswith("Nice="):
            return ["nice", "-n", line.split("=", 1)[1].strip()]
    return []


def start_app(env: dict) -> tuple[list[subprocess.Popen], str]:
    """Start gunicorn and a worker per queue (at the units' nice levels); return the processes and the address."""
    python, port = sys.executable, free_port()
    subprocess.run([python, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    processes = [
        start("web", [str(Path(python).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "neutrowatch.wsgi"],
              {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}),
        start("worker-celery", [*unit_nice("neutrowatch-worker-celery.service"),
                                python, "-m", "celery", "-A", "neutrowatch", "worker", "-Q", QUEUE, "-c", "2",
                                "-l", "warning", "--without-gossip", "--without-mingle", "-n", f"{QUEUE}@%h"], env),
        start("worker-alerts", [*unit_nice("neutrowatch-worker-alerts.service"),
                                python, "-m", "celery", "-A", "neutrowatch", "worker", "-Q", f"{QUEUE}-alerts",
                                "-c", "2", "-l", "warning", "--without-gossip", "--without-mingle",
                                "-n", f"{QUEUE}-alerts@%h"], env),
    ]
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                stop(processes)
                raise SystemExit(f"the app did not start; see {LOGS}/") from None
            time.sleep(0.2)
    return processes, f"127.0.0.1:{port}"


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def make_ward(n_patients: int, n_nurses: int):
    """Create the team's patients (through the write paths) and nurses; return (patients, nurses, token)."""
    from django.utils import timezone

    from monitoring import treatment
    from monitoring.models import ApiToken, Patient, Regimen, Team, User

    team = Team.objects.create(name="Bench ward", escalation_email="charge@example.org")
    nurses = []
    for n in range(n_nurses):
        nurse = User.objects.create_user(f"nurse{n:02d}", f"nurse{n:02d}@example.org", "x" * 16, role="nurse")
        nurse.teams.add(team)
        nurses.append(nurse)
    regimen = Regimen.objects.get(code="DOCETAXEL-75-Q3W")
    day1 = timezone.now() - timedelta(days=6)
    patients = []
    for n in range(n_patients):
        patient = Patient.objects.create(mrn=f"L{n:05d}", given_name="Bench", family_name=f"Patient{n}",
                                         date_of_birth="1970-01-01", sex="F", team=team,
                                         responsible_nurse=nurses[n % n_nurses])
        course = treatment.start_course(patient, regimen, day1, 4)
        treatment.give_cycle(course.cycles.get(number=1), day1)
        patients.append(patient)
    _, raw_token = ApiToken.issue("bench lab", [team])
    return patients, nurses, raw_token


def session_cookie(user) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def all_fresh() -> bool:
    from monitoring import selectors

    return not selectors.stale_cycle_ids(limit=1)


@dataclass
class Samples:
    """Page times (ms) and errors, by phase and page; appended to by the nurse threads."""

    phase: str = "warm-up"
    times: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, page: str, ms: float | None) -> None:
        with self.lock:
            key = (self.phase, page)
            if ms is None:
                self.errors[key] = self.errors.get(key, 0) + 1
            else:
                self.times.setdefault(key, []).append(ms)


def get(address: str, path: str, cookie: str) -> float | None:
    """GET a page as a nurse behind the proxy; return milliseconds, or None for anything but a 200."""
    host, port = address.split(":")
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_SECONDS)
        conn.request("GET", path, headers={"Cookie": cookie, "X-Forwarded-Proto": "https", "Host": "127.0.0.1"})
        response = conn.getresponse()
        response.read()
        conn.close()
    except OSError:
        return None
    return (time.perf_counter() - started) * 1000 if response.status == 200 else None


# How nurses open the ward: mostly as it is, sometimes filtered (each filter is drawn and shared apart).
WARD_PATHS = ("/", "/", "/", "/", "/", "/", "/?risk=high", "/?alerts=1")


def nurse_loop(address: str, cookie: str, patient_paths: list[str], think: float, samples: Samples,
               stopped: threading.Event, seed: int) -> None:
    chance = random.Random(seed)
    stopped.wait(chance.uniform(0, think))  # nurses do not all start in the same instant
    while not stopped.is_set():
        samples.add("ward", get(address, chance.choice(WARD_PATHS), cookie))
        stopped.wait(think)
        samples.add("patient", get(address, chance.choice(patient_paths), cookie))
        stopped.wait(think)


def post_results(address: str, token: str, body: str) -> int:
    host, port = address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    conn.request("POST", "/api/v1/results", body=body.encode(),
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv",
                          "X-Forwarded-Proto": "https", "Host": "127.0.0.1"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


ROUNDS = ((70, "2.1"), (46, "1.2"), (22, "0.8"), (2, "0.6"))  # hours before now, ANC 10^9/L: a falling count


def result_rows(patients, tag: str) -> list[str]:
    """Return 4 CSV rows per patient, round by round as a lab sends them."""
    from django.utils import timezone

    now = timezone.now()
    return [f"{p.mrn},{(now - timedelta(hours=h - 0.1 * (i % 3))).isoformat(timespec='seconds')},{anc},10^9/L,"
            f"{tag}-{r}-{i}" for r, (h, anc) in enumerate(ROUNDS) for i, p in enumerate(patients)]


HEADER = "mrn,collected_at,anc,unit,accession\n"


def wait_fresh(started: float, timeout: float = 900) -> float:
    while not all_fresh():
        if time.monotonic() - started > timeout:
            print(f"  forecasts still stale after {timeout:.0f} s")
            break
        time.sleep(0.25)
    return time.monotonic()


def phase_one_by_one(address: str, token: str, patients) -> dict:
    rows, statuses = result_rows(patients, "one"), {}
    first = time.monotonic()
    for n, row in enumerate(rows, start=1):
        status = post_results(address, token, HEADER + row + "\n")
        statuses[status] = statuses.get(status, 0) + 1
        if n % 100 == 0:
            print(f"  ... {n:,} results sent in {time.monotonic() - first:.0f} s", flush=True)
    last = time.monotonic()
    fresh = wait_fresh(first)
    return {"results": len(rows), "answers": statuses, "sending s": last - first,
            "fresh after first s": fresh - first, "fresh after last s": fresh - last}


def phase_one_file(address: str, token: str, patients) -> dict:
    rows = result_rows(patients, "file")
    first = time.monotonic()
    status = post_results(address, token, HEADER + "\n".join(rows) + "\n")
    last = time.monotonic()
    fresh = wait_fresh(first)
    return {"results": len(rows), "answers": {status: 1}, "sending s": last - first,
            "fresh after first s": fresh - first, "fresh after last s": fresh - last}


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(samples: Samples, phase: str, extra: dict | None = None) -> None:
    print(f"\n{phase}:", flush=True)
    for page in ("ward", "patient"):
        ordered = sorted(samples.times.get((phase, page), []))
        errors = samples.errors.get((phase, page), 0)
        if not ordered:
            print(f"  {page:<8} no successful request, {errors} errors")
            continue
        print(f"  {page:<8} p50 {statistics.median(ordered):7.0f} ms   p95 {percentile(ordered, 0.95):7.0f} ms   "
              f"max {ordered[-1]:7.0f} ms   {len(ordered) + errors:5d} requests   {errors} errors")
    if extra:
        print(f"  {extra['results']:,} results: sent in {extra['sending s']:.1f} s (answers {extra['answers']}); "
              f"every forecast fresh {extra['fresh after first s']:.1f} s after the first, "
              f"{extra['fresh after last s']:.1f} s after the last")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--nurses", type=int, default=20)
    parser.add_argument("--think", type=float, default=1.0, help="seconds between a nurse's pages")
    parser.add_argument("--quiet", type=float, default=30.0, help="seconds of browsing before the first burst")
    parser.add_argument("--bursts", nargs="+", choices=("one-by-one", "file"), default=["one-by-one", "file"],
                        help="which bursts to send (one by one can take long on a busy machine)")
    args = parser.parse_args(argv[1:])
    app_env = configure_environment()
    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.urls import reverse

    call_command("migrate", verbosity=0)
    logging.getLogger("axes").setLevel(logging.WARNING)  # one line per nurse's session otherwise
    processes, address = start_app(app_env)
    stopped = threading.Event()
    try:
        started = time.monotonic()
        patients, nurses, token = make_ward(args.patients, args.nurses)
        wait_fresh(started)
        print(f"{os.cpu_count()} CPU(s); database {DB_NAME}; ward of {args.patients} patients and {args.nurses} "
              f"nurses built and forecast in {time.monotonic() - started:.0f} s; gunicorn at {address}")
        samples = Samples()
        paths = [reverse("patient", args=[p.pk]) for p in patients]
        threads = [threading.Thread(target=nurse_loop, daemon=True,
                                    args=(address, session_cookie(nurse), paths, args.think, samples, stopped, n))
                   for n, nurse in enumerate(nurses)]
        for thread in threads:
            thread.start()
        print(f"{args.nurses} nurses, {args.think:.1f} s between pages; page times as the nurse's client saw them; "
              "each phase's figures are printed when it ends", flush=True)
        time.sleep(5)  # warm-up: gunicorn workers' first requests
        samples.phase = "quiet"
        try:
            time.sleep(args.quiet)
            report(samples, "quiet")
            # Each phase is reported as it ends: a run stopped early (Ctrl-C, `timeout -s INT`) keeps them.
            for burst, title, run in (("one-by-one", "results one by one (API, one request each)", phase_one_by_one),
                                      ("file", "results as one file (API, one request)", phase_one_file)):
                if burst in args.bursts:
                    samples.phase = f"{4 * args.patients:,} {title}"
                    report(samples, samples.phase, run(address, token, patients))
        except KeyboardInterrupt:
            print("\ninterrupted: the phase under way so far (no freshness figure)")
            report(samples, samples.phase)
        stopped.set()
    finally:
        stopped.set()
        stop(processes)
        shutil.rmtree(app_env["STATIC_ROOT"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

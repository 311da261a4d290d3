"""Benchmark the ward overview (300 active patients) and a patient page (8 cycles): server and browser.

usage: DJANGO_SETTINGS_MODULE=neutrowatch.settings_test python bench/pages.py [rounds] [--no-browser] [--demo]
       [--profile] [--trace]   (or `make bench-pages`; --demo: the demo of `make run` (load_demo) instead of
       the 300-patient ward: its nurse's ward and her most urgent patient's page; --trace: one more warm
       load of each page under Chromium's performance trace, summed by what the renderer's main thread
       did (parse, style, layout, paint, scripts) before DOM ready and before the load event, and when
       each file arrived)

Builds its own throw-away database (test_nw_bench_pages on the configured PostgreSQL server, or
test_$NW_BENCH_DB).
Server time: requests through django.test.Client after a warm-up; median and p95 in ms with the
number of SQL queries per page, and this process's CPU per request. Targets: ward <= 300 ms, patient
page <= 200 ms. The ward is timed drawn on every request (the test settings), then with its rows
shared as deployed (views/ward_cache.py, on REDIS_URL).
Browser time: the app served as deployed (DEBUG off, collectstatic with hashed names, WhiteNoise)
on a local port, loaded in headless Chromium (/usr/bin/chromium): navigation start to the load
event or the first contentful paint, whichever is later, and for the patient page until its
on-screen charts are drawn; median of 5 loads after a first (cold cache) one. Targets (issue 22
item 4): patient page and ward <= 300 ms.
"""

from __future__ import annotations

import importlib
import os
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neutrowatch.settings_test")
# Its own database name (NW_BENCH_DB, default nw_bench_pages), on whatever server DATABASE_URL points at;
# the test database made from it is named test_<that name>.
_url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/neutrowatch"))
os.environ["DATABASE_URL"] = urlunsplit(_url._replace(path="/" + os.environ.get("NW_BENCH_DB", "nw_bench_pages")))
# Measure as deployed: DEBUG off (no query log, no debug templates), a throw-away key.
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-" + os.urandom(32).hex())

# Set up as a deployed web process does (neutrowatch/wsgi.py: django.setup(), then gc.freeze()).
importlib.import_module("neutrowatch.wsgi")

from django.conf import settings  # noqa: E402
from django.core import signals  # noqa: E402
from django.db import close_old_connections, connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402
from page_trace import TRACE_CATEGORIES, trace_summary  # noqa: E402  (bench/ is on sys.path as the script's folder)

N_PATIENTS = 300
N_CYCLES = 8


def build() -> tuple:
    """Create a team, a nurse, 300 active patients in cycle 1 and one patient with 8 cycles."""
    from monitoring import clinical, forecasts
    from monitoring.models import (
        Alert,
        ChemoAdministration,
        CountResult,
        Cycle,
        Forecast,
        GcsfDose,
        Patient,
        Regimen,
        Team,
        TemperatureReading,
        TreatmentCourse,
        User,
    )

    now = timezone.now()
    team = Team.objects.create(name="Bench unit")
    nurse = User.objects.create_user("benchnurse", "bench@example.org", "x")
    nurse.teams.set([team])
    regimen = Regimen.objects.get(code="DOCETAXEL-75-Q3W")
    patients = Patient.objects.bulk_create(
        Patient(mrn=f"B{i:04d}", given_name="Bench", family_name=f"Patient{i:04d}", date_of_birth="1958-01-01",
                team=team) for i in range(N_PATIENTS)
    )
    day1s = [now - timedelta(days=1 + i % 20, hours=i % 7) for i in range(N_PATIENTS)]
    courses = TreatmentCourse.objects.bulk_create(
        TreatmentCourse(patient=p, regimen=regimen, started_on=d.date()) for p, d in zip(patients, day1s)
    )
    cycles = Cycle.objects.bulk_create(
        Cycle(course=c, number=n + 1, planned_day1=d + timedelta(days=21 * n), actual_day1=d if n == 0 else None,
              status=Cycle.Status.GIVEN if n == 0 else Cycle.Status.PLANNED)
        for c, d in zip(courses, day1s) for n in range(4)
    )
    firsts = [c for c in cycles if c.number == 1]
    ChemoAdministration.objects.bulk_create(ChemoAdministration(cycle=c, given_at=c.actual_day1) for c in firsts)
    counts = []
    for i, (p, d) in enumerate(zip(patients, day1s)):
        for k, anc in enumerate(("4.5", "2.0", "0.8", "0.3")[: 1 + (now - d).days // 5]):
            value = Decimal(anc) + Decimal(i % 9) / 10
            counts.append(CountResult(patient=p, collected_at=d + timedelta(days=5 * k, hours=-1), anc_1e9_per_l=value,
                                      entered_value=str(value), entered_unit="10^9/L",
                                      ctcae_grade=clinical.ctcae_grade(value)))
    CountResult.objects.bulk_create(counts)
    trajectory = [{"time": (timezone.localtime(firsts[0].actual_day1) + timedelta(hours=12 * h)).replace(tzinfo=None)
                   .isoformat(timespec="minutes"), "anc": 2.0, "lo80": 1.0, "hi80": 3.0} for h in range(44)]
    Forecast.objects.bulk_create(
        Forecast(cycle=c, input_version=0, inputs_digest="bench", computed_at=now, as_of=now,
                 nadir_anc_1e9_per_l=0.2 + (i % 10) / 10, nadir_lo80=0.1, nadir_hi80=1.5,
                 nadir_at=c.actual_day1 + timedelta(days=8), nadir_day_of_cycle=9.0, p_grade4=(i % 10) / 10,
                 p_grade3plus=min(1, (i % 10) / 5), next_day1=c.actual_day1 + timedelta(days=21), p_ready=0.8,
                 ready_threshold_1e9_per_l=1.5, trajectory=trajectory)
        for i, c in enumerate(firsts)
    )
    Alert.objects.bulk_create(
        Alert(patient_id=c.course.patient_id, cycle=c, kind=Alert.Kind.GRADE3_OBSERVED, severity=1 + i % 4,
              message="bench", raised_at=now) for i, c in enumerate(firsts) if i % 5 == 0
    )

    # One patient with 8 given cycles of counts, G-CSF and temperatures, forecast by the real engine.
    long = Patient.objects.create(mrn="B8CYCLES", given_name="Eight", family_name="Cycles",
                                  date_of_birth="1960-01-01", team=team)
    start = now - timedelta(days=21 * (N_CYCLES - 1) + 6)
    course = TreatmentCourse.objects.create(patient=long, regimen=regimen, started_on=start.date())
    long_cycles = []
    for n in range(N_CYCLES):
        day1 = start + timedelta(days=21 * n)
        cycle = Cycle.objects.create(course=course, number=n + 1, planned_day1=day1, actual_day1=day1,
                                     status=Cycle.Status.GIVEN, input_version=1)
        ChemoAdministration.objects.create(cycle=cycle, given_at=day1)
        long_cycles.append(cycle)
        GcsfDose.objects.create(patient=long, product=clinical.PEGFILGRASTIM, dose=6, dose_unit="mg",
                                given_at=day1 + timedelta(days=1))
        for day, anc in ((0, "4.6"), (4, "2.4"), (7, "0.9"), (9, "0.6"), (11, "1.3"), (14, "3.0"), (20, "4.2")):
            when = day1 + timedelta(days=day, hours=-2)
            if when < now:
                value = Decimal(anc)
                CountResult.objects.create(patient=long, collected_at=when, anc_1e9_per_l=value,
                                           entered_value=anc, entered_unit="10^9/L")
        for day, temp in ((8, "37.2"), (9, "38.4"), (10, "37.0")):
            if day1 + timedelta(days=day) < now:
                TemperatureReading.objects.create(patient=long, taken_at=day1 + timedelta(days=day),
                                                  temperature_c=Decimal(temp), entered_value=temp)
    for cycle in long_cycles:
        forecasts.recompute_cycle(cycle.pk)
    return nurse, long


def build_demo() -> tuple:
    """Load the demo (`load_demo`, as `make run` does); return its nurse and her ward's most urgent patient."""
    from django.core.management import call_command

    from monitoring import selectors
    from monitoring.models import User

    call_command("load_demo", "--no-replay", stdout=open(os.devnull, "w"))
    nurse = User.objects.get(username="nurse")
    rows = selectors.ward_rows(nurse, selectors.WardFilters(), timezone.now())
    return nurse, rows[0].patient, len(rows)


def timed(client: Client, url: str, rounds: int, profile: bool = False) -> tuple[list[float], int]:
    for _ in range(5):  # warm-up: template loading, first connection, code paths
        assert client.get(url, secure=True).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        client.get(url, secure=True)
    queries = len(captured)  # now: the next request start clears the query log
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(client.get, url, secure=True)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    samples, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, secure=True)
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200
    CPU_MS[url] = cpu
    return samples, queries


# This process's CPU per request, by URL: the figure a shared machine disturbs least.
CPU_MS: dict[str, list[float]] = {}


def report(name: str, samples: list[float], queries: int, target_ms: float, url: str = "") -> None:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    verdict = "ok" if p95 <= target_ms else "OVER TARGET"
    cpu = f"   CPU median {statistics.median(CPU_MS[url]):5.1f} ms" if url in CPU_MS else ""
    print(f"{name:<34} median {median:7.1f} ms   p95 {p95:7.1f} ms   {queries:3d} queries   "
          f"target {target_ms:.0f} ms: {verdict}{cpu}")


CHROMIUM = "/usr/bin/chromium"
BROWSER_LOADS = 5
# Milliseconds from navigation start to the load event, or to the first screen painted (first
# contentful paint) or the charts drawn if that is later: a page is not seen before it is painted, and
# a short page may paint after its load event. Also when the HTML had arrived (responseEnd), when the
# DOM was ready and when it was first painted, to see where time goes.
LOAD_TIME_JS = """async () => {
    const painted = await new Promise(resolve => {
        new PerformanceObserver(list => {
            const entries = list.getEntriesByName('first-contentful-paint');
            if (entries.length) resolve(entries[0].startTime);
        }).observe({type: 'paint', buffered: true});
        setTimeout(() => resolve(0), 3000);
    });
    const nav = performance.getEntriesByType('navigation')[0];
    const charts = performance.getEntriesByName('nw-charts-ready');
    return [Math.max(nav.loadEventEnd, painted, charts.length ? charts[0].startTime : 0), nav.responseEnd,
            nav.domContentLoadedEventEnd, document.querySelectorAll('.nw-chart.drawn').length, painted];
}"""


def browser_times(client: Client, pages: dict[str, str], trace: bool = False
                  ) -> dict[str, tuple[list[float], list[list[float]]]]:
    """Serve the app as deployed on a free local port and time each page in headless Chromium.

    Returns {name: (first load, [warm loads])}, each load [load ms, HTML received ms, DOM ready ms,
    charts drawn, first contentful paint ms].
    """
    import tempfile
    import threading

    from django.conf import settings
    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application
    from django.test import override_settings
    from playwright.sync_api import sync_playwright

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    static_root = tempfile.mkdtemp(prefix="nw-bench-static-")
    storages = {**settings.STORAGES,
                "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
    # Production settings, except plain HTTP on the loopback (no TLS here).
    with override_settings(STORAGES=storages, STATIC_ROOT=static_root, DEBUG=False, SECURE_SSL_REDIRECT=False,
                           SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False):
        call_command("collectstatic", interactive=False, verbosity=0)
        server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
        server.set_app(get_wsgi_application())  # a handler built under these settings (middleware reads them once)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        results = {}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                     args=["--no-sandbox", "--disable-gpu"])
                context = browser.new_context(viewport={"width": 1366, "height": 768})
                context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                                      "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": base}])
                page = context.new_page()
                for name, url in pages.items():
                    loads = [_load(page, base + url) for _ in range(1 + BROWSER_LOADS)]
                    results[name] = (loads[0], loads[1:])
                    if trace:
                        browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
                        _load(page, base + url)
                        raw = browser.stop_tracing()
                        saved = Path(tempfile.mkdtemp(prefix="nw-bench-trace-"), "trace.json")
                        saved.write_bytes(raw)
                        print(f"\n{name}: one warm load under Chromium's performance trace ({saved}: open it in "
                              "the performance panel of Chromium's developer tools)")
                        print(trace_summary(raw, base))
                cache = page.request.get(base + page.evaluate(
                    "document.querySelector('script[src*=vendor], link[rel=stylesheet]').getAttribute('src')"
                    " || document.querySelector('link[rel=stylesheet]').getAttribute('href')"))
                print(f"static files: hashed names, Cache-Control: {cache.headers.get('cache-control')}")
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
    return results


def _load(page, url: str) -> list[float]:
    page.goto(url, wait_until="load")
    if page.locator(".nw-chart").count():
        page.wait_for_selector("body[data-charts-ready='1']")
    return page.evaluate(LOAD_TIME_JS)


def main(argv: list[str]) -> int:
    numbers = [a for a in argv[1:] if a.isdigit()]
    rounds = int(numbers[0]) if numbers else 30
    # As the test runner does: keep one connection across requests, so queries can be counted.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        if "--demo" in argv:
            nurse, long, n_rows = build_demo()
            print(f"loaded the demo in {time.perf_counter() - started:.1f} s: the nurse's ward has {n_rows} patients")
            pages = {f"demo ward ({n_rows} patients)": reverse("ward"),
                     "demo patient (most urgent)": reverse("patient", args=[long.pk])}
        else:
            nurse, long = build()
            print(f"built {N_PATIENTS} active patients and one with {N_CYCLES} cycles "
                  f"in {time.perf_counter() - started:.1f} s")
            pages = {f"ward overview ({N_PATIENTS + 1} patients)": reverse("ward"),
                     f"patient page ({N_CYCLES} cycles)": reverse("patient", args=[long.pk])}
        client = Client()
        client.force_login(nurse)
        profile = "--profile" in argv
        server = {}
        for (name, url), target in zip(pages.items(), (300, 200), strict=True):
            samples, queries = timed(client, url, rounds, profile and url == reverse("ward"))
            report(name, samples, queries, target, url)
            server[name] = statistics.median(samples)
        # Above, every ward request draws its rows (the test settings: WARD_ROWS_MAX_AGE_SECONDS = 0);
        # deployed, they are drawn at most once a second and shared (views/ward_cache.py, on Redis).
        settings.WARD_ROWS_MAX_AGE_SECONDS = 3600
        samples, queries = timed(client, reverse("ward"), rounds)
        report("ward, rows shared (deployed)", samples, queries, 300, reverse("ward"))
        settings.WARD_ROWS_MAX_AGE_SECONDS = 0
        if "--no-browser" not in argv:
            print(f"\nheadless Chromium, 1366 px, load event (or first paint, or charts drawn, if later), "
                  f"median of {BROWSER_LOADS}:")
            for name, (first, warm) in browser_times(client, pages, "--trace" in argv).items():
                load, html, dom, drawn, painted = (statistics.median(column) for column in zip(*warm, strict=True))
                print(f"{name:<34} browser median {load:7.1f} ms   first load {first[0]:7.1f} ms   "
                      f"server median {server[name]:7.1f} ms   (HTML in {html:.0f} ms, first paint {painted:.0f} ms, "
                      f"DOM ready {dom:.0f} ms, {drawn:.0f} chart{'s' if drawn != 1 else ''} drawn)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Fixtures shared by integration tests of more than one room: a due cycle, the far ends of deliveries
(webhook, SMTP), a broker that is down, the MLLP listener as a process, posts fired at once."""

from __future__ import annotations

import os
import socketserver
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from http.server import HTTPServer
from urllib.parse import urlencode

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.test import Client

from monitoring import forecasts
from tests.conftest import REPO, point_broker_at, record_anc, start_on_regimen
from tests.integration.servers import Receiver, SmtpHandler


@pytest.fixture
def due_cycle(patient, regimens):
    """Cycle 2 of docetaxel 75, due a few hours ago (not yet given), after a grade 4 nadir in cycle 1.

    Its forecast is stored: the what-if table, the FHIR risk assessments and "Apply as plan" read it.
    """
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=21.2)
    record_anc(patient, cycle1.day1 - timedelta(hours=2), "4.6")
    record_anc(patient, cycle1.day1 + timedelta(days=7, hours=1), "0.35")
    record_anc(patient, cycle1.day1 + timedelta(days=11, hours=1), "0.6")
    cycle2 = cycle1.course.cycles.get(number=2)
    forecasts.recompute_cycle(cycle2.pk)
    return cycle2


# --- Deliveries' far ends (real sockets) ------------------------------------------------------------


@pytest.fixture
def webhook_server():
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    server.received, server.statuses = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpHandler)
    server.daemon_threads = True
    server.messages, server.failures = [], 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def eager_retries():
    """Retries scheduled by deliver() run at once in this process instead of via the broker."""
    from neutrowatch.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


# --- A broker that is down -------------------------------------------------------------------------


@pytest.fixture
def broker_down():
    """Point this process's publisher at a port where no Redis listens, then restore it."""
    from neutrowatch.celery import app

    original = app.conf.broker_url
    point_broker_at("redis://127.0.0.1:6390/0")
    yield lambda: point_broker_at(original)
    point_broker_at(original)


DEAD_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture
def broker_dead():
    """Publish to a port where no Redis listens (and no worker runs), then restore the broker."""
    from neutrowatch.celery import app

    original = app.conf.broker_url
    point_broker_at(DEAD_BROKER)
    yield
    point_broker_at(original)


# --- The MLLP listener, a process on the test database --------------------------------------------


@contextmanager
def listener_process(log_name: str = "mllp-listener.log", **extra_env):
    """Run `manage.py mllp_listener --port 0` on the test database; yield (host, port, process, log path)."""
    from django.conf import settings as django_settings

    db = django_settings.DATABASES["default"]
    # Its recomputes go to a private queue that no worker reads: the session's test worker must not
    # run them while later tests truncate the tables (the truncation would deadlock with it).
    queue = f"nw-mllp-test-{os.getpid()}"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="neutrowatch.settings_test", REDIS_URL=django_settings.REDIS_URL,
               DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
               MLLP_DB_RETRY_SECONDS="20", CELERY_TASK_DEFAULT_QUEUE=queue, **extra_env)
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    log_path = REPO / "test-artifacts" / log_name
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "manage.py", "mllp_listener", "--host", "127.0.0.1", "--port", "0"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    if not line.startswith("MLLP listener on"):
        proc.kill()
        pytest.fail(f"the listener did not start: {line!r}; see test-artifacts/{log_name}")
    host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
    try:
        yield host, int(port), proc, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        from neutrowatch.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


@pytest.fixture(scope="module")
def listener(django_db_setup, django_db_blocker):
    """Start `manage.py mllp_listener --port 0` on the test database; yield (host, port, process); stop it."""
    with listener_process() as (host, port, proc, _log):
        yield host, port, proc


@pytest.fixture
def listener_for_another_network(django_db_setup, django_db_blocker):
    """A listener that takes results only from 192.0.2.0/24 (TEST-NET-1), which the tests are not on."""
    with listener_process("mllp-listener-guarded.log", MLLP_ALLOWED_PEERS="192.0.2.0/24,2001:db8::/32") as running:
        yield running


# --- Posts fired at the same moment ---------------------------------------------------------------


CONCURRENT_POSTS = 20


CSRF = "a" * 32  # an unmasked CSRF secret: the cookie and the form field carry the same value


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def fire(live_server, nurse):
    """Return fire(path, data, headers=None) -> [(status, messages)], the posts sent at the same moment."""
    client = Client()
    client.force_login(nurse)
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}"
    opener = urllib.request.build_opener(_NoRedirect)

    def post(url: str, body: bytes, headers: dict, barrier: threading.Barrier) -> tuple[int, list[str]]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        barrier.wait()
        try:
            response = opener.open(request, timeout=60)
        except urllib.error.HTTPError as answer:
            response = answer
        with response:
            response.read()
            return response.status, _messages(response.headers.get_all("Set-Cookie") or [])

    def fire_at(path: str, data: dict | str, headers: dict | None = None) -> list[tuple[int, list[str]]]:
        body = data.encode() if isinstance(data, str) else urlencode({**data, "csrfmiddlewaretoken": CSRF}).encode()
        headers = headers or {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        barrier = threading.Barrier(CONCURRENT_POSTS)
        with ThreadPoolExecutor(CONCURRENT_POSTS) as pool:
            futures = [pool.submit(post, live_server.url + path, body, headers, barrier)
                       for _ in range(CONCURRENT_POSTS)]
            return [future.result() for future in futures]

    return fire_at


def _messages(set_cookies: list[str]) -> list[str]:
    """Return the texts of the messages a response left in the messages cookie."""
    for header in set_cookies:
        name, _, rest = header.partition("=")
        if name == "messages":
            value = rest.split(";", 1)[0].strip('"').replace("\\054", ",").replace('\\"', '"')
            return [str(m) for m in CookieStorage(HttpRequest())._decode(value) or []]
    return []

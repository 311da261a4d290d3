"""Deliveries on queues and workers of their own, and their catch-up after a Redis outage (issue 16).

Real workers (one per queue), real Redis and PostgreSQL; a slow webhook receiver and an SMTP
server on real sockets on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from monitoring import clinical, forecasts, records
from monitoring.models import Alert, Delivery, Regimen, Team
from tests.conftest import REPO, make_patient, make_user, start_on_regimen, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SLOW_SECONDS = 12


class SlowReceiver(BaseHTTPRequestHandler):
    """A webhook receiver that answers after 12 s (sooner once the test releases it)."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received += 1
        self.server.release.wait(SLOW_SECONDS)
        self.server.answered += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_webhook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowReceiver)
    server.daemon_threads = True
    server.received, server.answered, server.release = 0, 0, threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def patient_on_docetaxel(team, mrn: str, nurse):
    patient = make_patient(team, mrn=mrn, nurse=nurse)
    return patient, start_on_regimen(patient, Regimen.objects.get(code="DOCETAXEL-75-Q3W"))


def grade4(patient):
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=1), unit="10^9/L", anc=Decimal("0.3")))


def sent(patient, channel: str):
    return Delivery.objects.filter(alert__patient=patient, channel=channel, status=Delivery.Status.SENT).first()


def test_a_slow_webhook_does_not_delay_another_teams_alerts(isolated_worker, slow_webhook, team, other_team):
    # One worker per queue, as in production; the webhook timeout is longer than the receiver's 12 s
    # so the slow requests hold their webhook worker processes for the whole time.
    slow = {"ALERT_WEBHOOK_TIMEOUT_SECONDS": "20"}
    isolated_worker(slow, concurrency=2, roles=("celery",))
    isolated_worker(slow, concurrency=1, roles=("alerts",))
    isolated_worker(slow, concurrency=2, roles=("webhooks",))
    Team.objects.filter(pk=team.pk).update(webhook_url=slow_webhook.url, webhook_secret="s3cret")
    nurse, other_nurse = make_user("nurse", [team]), make_user("othernurse", [other_team])
    slowed = [patient_on_docetaxel(team, f"SLOW-{n}", nurse)[0] for n in range(3)]
    for patient in slowed:
        grade4(patient)
    wait_until(lambda: slow_webhook.received >= 2, timeout=60)  # both webhook processes are held

    patient, _ = patient_on_docetaxel(other_team, "OTHER-1", other_nurse)
    started = time.monotonic()
    grade4(patient)
    inapp = wait_until(lambda: sent(patient, Delivery.Channel.INAPP), timeout=SLOW_SECONDS - 2)
    email = wait_until(lambda: sent(patient, Delivery.Channel.EMAIL), timeout=SLOW_SECONDS - 2)
    print(f"other team's in-app alert after {time.monotonic() - started:.2f} s")
    # Sent while every slow webhook was still waiting for its answer.
    assert slow_webhook.answered == 0
    assert inapp.recipient == "othernurse" and email.recipient == "othernurse@example.org"
    assert not Delivery.objects.filter(channel=Delivery.Channel.WEBHOOK, status=Delivery.Status.SENT).exists()
    slow_webhook.release.set()
    for each in slowed:  # the slow team's own webhooks still arrive
        wait_until(lambda p=each: sent(p, Delivery.Channel.WEBHOOK), timeout=60)


def queue_length(queue: str) -> int:
    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(queue, passive=True).message_count


def test_a_backlog_of_recomputes_does_not_delay_a_delivery(isolated_worker, team):
    from monitoring import forecasts, tasks

    isolated_worker(concurrency=1, roles=("celery",))
    isolated_worker(concurrency=1, roles=("alerts",))
    nurse = make_user("nurse", [team])
    patient, cycle = patient_on_docetaxel(team, "MRN001", nurse)
    for _ in range(3000):  # e.g. a big import just landed
        tasks.recompute_cycle.delay(cycle.pk)
    backlog = isolated_worker.queues["celery"]
    grade4(patient)  # its own recompute waits at the back of the backlog ...
    forecasts.recompute_cycle(cycle.pk)  # ... so raise the alert here, as the recompute would
    email = wait_until(lambda: sent(patient, Delivery.Channel.EMAIL), timeout=30)
    assert email.attempts == 1
    assert queue_length(backlog) > 2000  # sent while the backlog was still there


def test_pending_emails_go_out_after_a_redis_outage_without_a_manual_step(
        isolated_worker, smtp_server, broker_down, team, tmp_path):
    nurse = make_user("nurse", [team])
    patients = [patient_on_docetaxel(team, f"MRN00{n}", nurse)[0] for n in range(3)]
    for patient in patients:  # Redis is down: the results are saved, nothing is published ...
        grade4(patient)
    forecasts.recompute_stale(inline=True)  # ... the forecasts and alerts are made in-process
    emails = Delivery.objects.filter(channel=Delivery.Channel.EMAIL)
    # Each critical alert is emailed to the responsible nurse and to the team's escalation contact.
    assert emails.count() == 6 and set(emails.values_list("status", flat=True)) == {Delivery.Status.PENDING}
    assert Alert.objects.filter(severity=Alert.Severity.CRITICAL).count() == 3
    Delivery.objects.update(created_at=timezone.now() - timedelta(seconds=5))  # written during the outage

    broker_down()  # Redis is back; nobody runs any command
    smtp = {"DJANGO_SETTINGS_MODULE": "neutrowatch.settings",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_server.server_address[1]),
            # The production job runs every 60 s for deliveries older than 60 s (<= 2 minutes in all);
            # shortened here so the test takes seconds.
            "DELIVERY_CATCHUP_INTERVAL_SECONDS": "1", "DELIVERY_CATCHUP_AFTER_SECONDS": "2"}
    isolated_worker(smtp, concurrency=1, roles=("alerts",))
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "neutrowatch", "beat", "-l", "info",
         "-s", str(tmp_path / "beat-schedule"), "--pidfile", str(tmp_path / "beat.pid")],
        cwd=REPO, env=isolated_worker.env(smtp), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: len(smtp_server.messages) >= 6, timeout=120)
        wait_until(lambda: not emails.exclude(status=Delivery.Status.SENT).exists(), timeout=30)
    finally:
        beat.terminate()
        beat.wait(timeout=20)
    assert sorted(emails.values_list("attempts", flat=True)) == [1] * 6
    assert len(smtp_server.messages) == 6  # each once
    assert all("Critical: Grade 4 neutropenia observed" in message for message in smtp_server.messages)

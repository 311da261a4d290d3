"""Deliveries over real sockets: a webhook receiver and an SMTP server on 127.0.0.1 in threads.

Only the network edge is fake (our own tiny servers); transports, retries and records are real.
The last test runs a real worker with Django's SMTP backend against the local SMTP server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socketserver
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from monitoring import alerts, clinical, records
from monitoring.models import Delivery
from tests.conftest import wait_until
from tests.integration.alerts.deliveries import SECRET, raise_grade4
from tests.integration.servers import SmtpHandler

# --- in-process: deliver() called directly, as the worker would ----------------------------------


@pytest.mark.django_db
def test_webhook_is_signed_json_with_mrn_and_initials_only(cycle, patient, team, webhook_server,
                                                           django_capture_on_commit_callbacks):
    team.webhook_url, team.webhook_secret = webhook_server.url, SECRET
    team.save()
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)
    delivery = alert.deliveries.get(channel=Delivery.Channel.WEBHOOK)
    assert alerts.deliver(delivery.pk).status == Delivery.Status.SENT
    (headers, body), = webhook_server.received
    expected = hmac.new(SECRET.encode(), headers["X-NeutroWatch-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-NeutroWatch-Signature"] == f"sha256={expected}"
    document = json.loads(body)
    assert document["patient"] == {"mrn": "MRN001", "initials": "AL"}
    assert document["alert"]["kind"] == "grade4_observed" and document["alert"]["severity"] == "critical"
    assert b"Lovelace" not in body


@pytest.mark.django_db
def test_webhook_5xx_is_retried_and_4xx_fails_for_good(cycle, patient, team, webhook_server, eager_retries,
                                                       django_capture_on_commit_callbacks):
    team.webhook_url, team.webhook_secret = webhook_server.url, SECRET
    team.save()
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)
    delivery = alert.deliveries.get(channel=Delivery.Channel.WEBHOOK)
    webhook_server.statuses = [503, 404]
    assert alerts.deliver(delivery.pk, 0).status == Delivery.Status.RETRYING  # and the retry ran
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 2)
    assert "404" in delivery.last_error
    assert alerts.deliver(delivery.pk, 2).status == "skipped"  # never retried forever
    assert len(webhook_server.received) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("moved", [301, 302, 303, 307, 308])
def test_a_webhook_that_redirects_fails_for_good_instead_of_counting_a_get_as_sent(
        moved, cycle, patient, team, webhook_server, eager_retries, django_capture_on_commit_callbacks):
    """urllib turned the POST into a GET of the new address (the alert never arrived) and counted its 200."""
    team.webhook_url, team.webhook_secret = webhook_server.url, SECRET
    team.save()
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)
    delivery = alert.deliveries.get(channel=Delivery.Channel.WEBHOOK)
    webhook_server.statuses = [moved]
    assert alerts.deliver(delivery.pk, 0).status == Delivery.Status.FAILED
    delivery.refresh_from_db()
    assert f"HTTP {moved}" in delivery.last_error and "/moved" in delivery.last_error
    assert len(webhook_server.received) == 1 and not getattr(webhook_server, "gets", [])


@pytest.mark.django_db
def test_transient_failures_stop_after_the_configured_attempts(cycle, patient, team, webhook_server, eager_retries,
                                                              settings, django_capture_on_commit_callbacks):
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "DELIVERY_MAX_ATTEMPTS": 3}
    team.webhook_url, team.webhook_secret = webhook_server.url, SECRET
    team.save()
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)
    delivery = alert.deliveries.get(channel=Delivery.Channel.WEBHOOK)
    webhook_server.statuses = [500] * 10
    alerts.deliver(delivery.pk, 0)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 3)
    assert len(webhook_server.received) == 3


@pytest.mark.django_db
def test_smtp_transient_failures_are_recorded_retried_and_sent_once(cycle, patient, smtp_server, settings,
                                                                    eager_retries, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.server_address[1]
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)
    delivery = alert.deliveries.get(channel=Delivery.Channel.EMAIL, recipient="nurse@example.org")
    smtp_server.failures = 2
    # Attempt 1 gets 451 and schedules attempt 2 (run at once here), which gets 451 and
    # schedules attempt 3, which is sent.
    assert alerts.deliver(delivery.pk, 0).status == Delivery.Status.RETRYING
    assert alerts.deliver(delivery.pk, 0).status == "skipped"  # a duplicate task of attempt 1
    assert alerts.deliver(delivery.pk, 2).status == "skipped"  # a redelivered task after success
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (Delivery.Status.SENT, 3, "")
    assert len(smtp_server.messages) == 1
    assert "Subject: [NeutroWatch] Critical: Grade 4 neutropenia observed - MRN001 AL" in smtp_server.messages[0]


@pytest.mark.django_db
def test_permanent_smtp_refusal_is_not_retried(cycle, patient, settings, django_capture_on_commit_callbacks):
    class Refusing(SmtpHandler):
        def handle(self):
            self.reply("220 x")
            while line := self.rfile.readline().decode():
                verb = line.split(" ")[0].strip().upper()
                self.reply({"EHLO": "250 x", "MAIL": "250 OK", "RCPT": "550 5.1.1 no such user",
                            "RSET": "250 OK", "QUIT": "221 bye"}.get(verb, "502 no"))
                if verb == "QUIT":
                    return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.server_address[1]
    try:
        alert = raise_grade4(patient, django_capture_on_commit_callbacks)
        delivery = alert.deliveries.get(channel=Delivery.Channel.EMAIL, recipient="nurse@example.org")
        assert alerts.deliver(delivery.pk, 0).status == Delivery.Status.FAILED
        delivery.refresh_from_db()
        assert delivery.attempts == 1 and "550" in delivery.last_error
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db
def test_lost_delivery_is_redispatched_by_the_sweep(cycle, patient, django_capture_on_commit_callbacks):
    from neutrowatch.celery import app

    alert = raise_grade4(patient, django_capture_on_commit_callbacks)  # on-commit sends never ran
    delivery = alert.deliveries.get(channel=Delivery.Channel.EMAIL, recipient="nurse@example.org")
    assert delivery.status == Delivery.Status.PENDING
    app.conf.task_always_eager = True
    try:
        assert alerts.redispatch_stuck(timezone.now() + timedelta(minutes=11)) >= 1
    finally:
        app.conf.task_always_eager = False
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert len(mail.outbox) == 2  # critical: the nurse and the team's escalation contact


# --- with a real worker using Django's SMTP backend ---------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_worker_retries_failing_smtp_and_sends_exactly_one_email(isolated_worker, smtp_server, team):
    from tests.conftest import make_patient, make_user, start_on_regimen

    smtp_server.failures = 2
    isolated_worker({
        "DJANGO_SETTINGS_MODULE": "neutrowatch.settings",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_server.server_address[1]),
        "ALERT_DELIVERY_RETRY_BASE_SECONDS": "0.2",
    }, concurrency=2)
    nurse = make_user("nurse", [team])
    patient = make_patient(team, nurse=nurse)
    team.escalation_email = ""  # one email only: a critical alert also goes to the escalation contact
    team.save()
    from monitoring.models import Regimen

    start_on_regimen(patient, Regimen.objects.get(code="DOCETAXEL-75-Q3W"))
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=1), unit="10^9/L", anc=Decimal("0.3")))
    delivery = wait_until(lambda: Delivery.objects.filter(
        channel=Delivery.Channel.EMAIL, status=Delivery.Status.SENT).first(), timeout=60)
    assert delivery.attempts == 3
    assert len(smtp_server.messages) == 1
    assert "MRN001 AL" in smtp_server.messages[0]

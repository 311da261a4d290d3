"""Claims are leases (issue 25, item 1), in-process: `deliver` called as the worker would.

A worker that died mid-send is represented by the row it leaves behind (claimed, leased, no
outcome); the live version, with a real worker killed with SIGKILL, is test_delivery_worker_killed.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from monitoring import alerts
from monitoring.alerts import delivery as delivery_module
from monitoring.models import Delivery
from tests.integration.alerts.deliveries import raise_grade4

pytestmark = pytest.mark.django_db


def nurse_email(patient, django_capture_on_commit_callbacks) -> Delivery:
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)  # its sends never ran
    return alert.deliveries.get(channel=Delivery.Channel.EMAIL, recipient="nurse@example.org")


def left_by_a_dead_worker(delivery: Delivery, *, lapses_in: timedelta, attempts: int = 1) -> None:
    """Leave the row as a worker killed while sending attempt `attempts` leaves it."""
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        attempts=attempts, claimed_at=now + lapses_in - delivery_module.lease_length(),
        lease_expires_at=now + lapses_in)


def test_a_claim_is_a_lease_that_ends_with_the_outcome(cycle, patient, django_capture_on_commit_callbacks):
    email = nurse_email(patient, django_capture_on_commit_callbacks)
    before = timezone.now()
    assert alerts.deliver(email.pk, 0).status == Delivery.Status.SENT
    email.refresh_from_db()
    assert email.claimed_at >= before and email.lease_expires_at is None
    assert len(mail.outbox) == 1


def test_a_live_lease_is_left_alone(cycle, patient, eager_retries, django_capture_on_commit_callbacks):
    email = nurse_email(patient, django_capture_on_commit_callbacks)
    left_by_a_dead_worker(email, lapses_in=timedelta(seconds=20))  # or by a live one, still sending
    assert alerts.deliver(email.pk, 0).status == "skipped"  # e.g. the task redelivered at once by Celery
    alerts.redispatch_pending()  # in eager mode its scheduled check runs at once, and finds the lease held
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Delivery.Status.PENDING, 1)
    assert mail.outbox == []


def test_a_lapsed_lease_is_sent_again_once_by_the_minute_job(cycle, patient, eager_retries,
                                                             django_capture_on_commit_callbacks):
    email = nurse_email(patient, django_capture_on_commit_callbacks)
    left_by_a_dead_worker(email, lapses_in=timedelta(seconds=-1))
    assert alerts.redispatch_pending() >= 1
    email.refresh_from_db()
    # The lost attempt counts: the re-send is attempt 2, with the same Idempotency-Key as attempt 1.
    assert (email.status, email.attempts, email.lease_expires_at) == (Delivery.Status.SENT, 2, None)
    (message,) = [m for m in mail.outbox if m.to == ["nurse@example.org"]]
    assert message.extra_headers["Idempotency-Key"] == f"nw-delivery-{email.pk}"
    alerts.redispatch_pending(timezone.now() + timedelta(minutes=5))
    assert alerts.deliver(email.pk, 0).status == "skipped"  # the dead worker's own task, restored late
    assert len([m for m in mail.outbox if m.to == ["nurse@example.org"]]) == 1


def test_the_task_celery_redelivers_makes_a_lapsed_attempt_again(cycle, patient, django_capture_on_commit_callbacks):
    email = nurse_email(patient, django_capture_on_commit_callbacks)
    left_by_a_dead_worker(email, lapses_in=timedelta(seconds=-1))
    assert alerts.deliver(email.pk, 0).status == Delivery.Status.SENT  # (delivery id, attempt 0) as first sent
    assert alerts.deliver(email.pk, 0).status == "skipped"  # a second copy of it
    assert len(mail.outbox) == 1


def test_the_minute_job_schedules_a_check_at_the_moment_a_lease_lapses(cycle, patient,
                                                                       django_capture_on_commit_callbacks):
    email = nurse_email(patient, django_capture_on_commit_callbacks)
    left_by_a_dead_worker(email, lapses_in=timedelta(seconds=20))
    lapses_at = Delivery.objects.get(pk=email.pk).lease_expires_at
    now = lapses_at - timedelta(seconds=20)
    # One second after it lapses, as (delivery id, attempt 0): "make attempt 1 again if it was lost".
    assert delivery_module.lease_checks(now) == [(email.pk, Delivery.Channel.EMAIL, 0, 21.0)]
    # A lease lapsing after the next run (a minute away) is that run's business.
    assert delivery_module.lease_checks(lapses_at - timedelta(seconds=90)) == []
    assert delivery_module.overdue(now) == []
    assert (email.pk, Delivery.Channel.EMAIL, 0) in delivery_module.overdue(lapses_at)


def test_a_stale_check_does_not_cut_a_retrys_backoff_short(cycle, patient, settings,
                                                           django_capture_on_commit_callbacks):
    email = nurse_email(patient, django_capture_on_commit_callbacks)
    # Attempt 1 failed (SMTP 451): the retry is due in 30 s and nothing holds a lease.
    Delivery.objects.filter(pk=email.pk).update(status=Delivery.Status.RETRYING, attempts=1,
                                                claimed_at=timezone.now(), lease_expires_at=None,
                                                next_attempt_at=timezone.now() + timedelta(seconds=30))
    assert alerts.deliver(email.pk, 0).status == "skipped"  # the check the minute job scheduled for attempt 1
    assert mail.outbox == []
    assert alerts.deliver(email.pk, 1).status == Delivery.Status.SENT  # the retry itself
    assert len(mail.outbox) == 1


def test_a_worker_lost_on_the_last_allowed_attempt_fails_the_delivery(cycle, patient, settings,
                                                                     django_capture_on_commit_callbacks):
    attempts = settings.NEUTROWATCH["DELIVERY_MAX_ATTEMPTS"]
    email = nurse_email(patient, django_capture_on_commit_callbacks)
    left_by_a_dead_worker(email, lapses_in=timedelta(seconds=-1), attempts=attempts)
    assert alerts.deliver(email.pk, attempts - 1).status == Delivery.Status.FAILED
    email.refresh_from_db()
    assert f"lost during attempt {attempts}" in email.last_error and email.lease_expires_at is None
    assert mail.outbox == []


def test_the_sweep_also_sends_a_lapsed_lease(cycle, patient, eager_retries, django_capture_on_commit_callbacks):
    email = nurse_email(patient, django_capture_on_commit_callbacks)
    left_by_a_dead_worker(email, lapses_in=timedelta(seconds=-1))
    assert alerts.redispatch_stuck(timezone.now()) >= 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Delivery.Status.SENT, 2)

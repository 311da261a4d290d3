"""Delivery catch-up and at-least-once markers, in-process (the live-worker versions are in
test_delivery_isolation.py): pending deliveries are re-published by the minute job and by
recompute_stale; every attempt of a delivery carries the same Idempotency-Key."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from monitoring import alerts, forecasts, routing
from monitoring.models import Delivery
from tests.integration.alerts.deliveries import SECRET, raise_grade4

pytestmark = pytest.mark.django_db


def test_pending_deliveries_older_than_a_minute_are_sent_by_the_catch_up(
        cycle, patient, eager_retries, django_capture_on_commit_callbacks):
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)  # its sends never ran (broker down)
    # A critical alert is emailed to the responsible nurse and to the team's escalation contact.
    emails = alert.deliveries.filter(channel=Delivery.Channel.EMAIL)
    assert emails.count() == 2
    assert alerts.redispatch_pending(timezone.now()) == 0  # not yet a minute old: its task may be queued
    assert alerts.redispatch_pending(timezone.now() + timedelta(seconds=61)) >= 2
    assert sorted(emails.values_list("status", "attempts")) == [(Delivery.Status.SENT, 1)] * 2
    assert len(mail.outbox) == 2
    assert alerts.redispatch_pending(timezone.now() + timedelta(minutes=5)) == 0  # nothing left, nothing resent
    assert len(mail.outbox) == 2


def test_recompute_stale_also_sends_pending_deliveries(cycle, patient, eager_retries,
                                                       django_capture_on_commit_callbacks):
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)
    Delivery.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    forecasts.recompute_stale()
    assert set(alert.deliveries.values_list("status", flat=True)) == {Delivery.Status.SENT}
    assert len(mail.outbox) == 2  # the responsible nurse and the escalation contact


def test_a_claimed_delivery_is_not_resent_by_the_catch_up(cycle, patient, eager_retries,
                                                          django_capture_on_commit_callbacks):
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)
    # A worker has claimed it and is still sending (a slow SMTP server), renewing its lease: the
    # catch-up leaves it alone (the check it schedules for when the lease would lapse finds it held).
    Delivery.objects.filter(alert=alert).update(attempts=1, claimed_at=timezone.now(),
                                                lease_expires_at=timezone.now() + timedelta(seconds=30),
                                                created_at=timezone.now() - timedelta(minutes=2))
    alerts.redispatch_pending(timezone.now())
    assert set(alert.deliveries.values_list("status", "attempts")) == {(Delivery.Status.PENDING, 1)}
    assert mail.outbox == []


def test_every_attempt_of_a_webhook_carries_the_same_idempotency_key(
        cycle, patient, team, webhook_server, eager_retries, django_capture_on_commit_callbacks):
    team.webhook_url, team.webhook_secret = webhook_server.url, SECRET
    team.save()
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)
    delivery = alert.deliveries.get(channel=Delivery.Channel.WEBHOOK)
    webhook_server.statuses = [503]  # the first attempt fails, the retry succeeds
    alerts.deliver(delivery.pk, 0)
    first, second = webhook_server.received
    assert first[0]["Idempotency-Key"] == second[0]["Idempotency-Key"] == f"nw-delivery-{delivery.pk}"
    assert json.loads(first[1])["delivery_id"] == json.loads(second[1])["delivery_id"] == delivery.pk


def test_alert_tasks_are_routed_to_their_own_queues(settings):
    assert settings.CELERY_TASK_ROUTES == ("monitoring.routing.route_task",)
    for task in ("monitoring.tasks.deliver", "monitoring.tasks.escalate",
                 "monitoring.tasks.redispatch_pending_deliveries"):
        assert routing.route_task(task, (), {}, {}) == {"queue": "alerts"}
    assert routing.route_task("monitoring.tasks.recompute_cycle", (), {}, {}) is None  # the default queue
    assert routing.delivery_queue("webhook") == "webhooks" and routing.delivery_queue("email") == "alerts"


def test_a_retry_whose_task_was_lost_is_sent_by_the_catch_up(
        cycle, patient, team, webhook_server, django_capture_on_commit_callbacks, settings):
    from neutrowatch.celery import app
    from tests.conftest import point_broker_at

    team.webhook_url, team.webhook_secret = webhook_server.url, SECRET
    team.save()
    alert = raise_grade4(patient, django_capture_on_commit_callbacks)
    delivery = alert.deliveries.get(channel=Delivery.Channel.WEBHOOK)
    webhook_server.statuses = [503]  # the first attempt fails: a retry is due in 30 s
    point_broker_at("redis://127.0.0.1:1/0")  # ... and its delayed task cannot be published (Redis down)
    try:
        assert alerts.deliver(delivery.pk, 0).status == Delivery.Status.RETRYING
    finally:
        point_broker_at(settings.CELERY_BROKER_URL)
    delivery.refresh_from_db()
    due = delivery.next_attempt_at
    assert due is not None and delivery.status == Delivery.Status.RETRYING
    app.conf.task_always_eager = True
    try:
        assert alerts.redispatch_pending(due) == 0  # not yet overdue: its task may still come
        assert alerts.redispatch_pending(due + timedelta(seconds=61)) >= 1
    finally:
        app.conf.task_always_eager = False
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (Delivery.Status.SENT, 2, None)
    mine = [body for _, body in webhook_server.received if json.loads(body)["delivery_id"] == delivery.pk]
    assert len(mine) == 2  # the failed attempt and the retry, nothing more

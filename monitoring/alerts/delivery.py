"""Delivering an alert: one `Delivery` row per channel and recipient, sent after commit.

Deliveries follow the healthchecks pattern: a row per channel and recipient is written in the
same transaction as the alert, the transport runs after commit, outside any transaction, and its
outcome is written back. A delivery is claimed with a conditional update on its attempt count,
so two workers never send the same attempt twice. Lost work is caught up by `redispatch_pending`
(every minute) and `redispatch_stuck` (the sweep).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from monitoring import jobs
from monitoring.models import Delivery
from monitoring.transports import TransportError, transport_for

log = logging.getLogger(__name__)

# A claimed delivery not finished after this long is taken to be lost (its worker died).
CLAIM_TIMEOUT = timedelta(minutes=10)


def create_deliveries(rows: list[Delivery]) -> list[tuple[int, str]]:
    created = Delivery.objects.bulk_create(rows)
    return [(d.pk, d.channel) for d in created]


def dispatch(deliveries: list[tuple[int, str]]) -> None:
    """Send (delivery id, channel) pairs: in-app right here, the others through the worker."""
    for delivery_id, channel in deliveries:
        if channel == Delivery.Channel.INAPP:
            deliver(delivery_id)
            continue
        jobs.publish_delivery(delivery_id, channel, 0)


@dataclass(frozen=True)
class Outcome:
    status: str  # a Delivery.Status value, or "skipped" when another worker has this attempt
    retry_in_seconds: float | None = None


def deliver(delivery_id: int, attempt: int = 0, now: datetime | None = None) -> Outcome:
    """Make attempt number `attempt + 1` of a delivery and record its outcome.

    The attempt is claimed by a conditional update on the attempt count: a duplicate task,
    or a redelivered one whose attempt already ran, changes nothing and sends nothing.
    """
    now = now or timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING], attempts=attempt
    ).update(attempts=attempt + 1, claimed_at=now)
    if not claimed:
        return Outcome("skipped")
    delivery = Delivery.objects.select_related("alert__patient__team", "alert__cycle").get(pk=delivery_id)
    if delivery.purpose == Delivery.Purpose.ESCALATE and delivery.alert.acknowledged_at is not None:
        return _record(delivery, Delivery.Status.FAILED, "not sent: the alert was acknowledged first")
    try:
        transport_for(delivery.channel)(delivery)
    except TransportError as error:
        return _record_failure(delivery, error)
    return _record(delivery, Delivery.Status.SENT, "", sent_at=timezone.now())


def _record_failure(delivery: Delivery, error: TransportError) -> Outcome:
    config = settings.NEUTROWATCH
    if error.permanent or delivery.attempts >= config["DELIVERY_MAX_ATTEMPTS"]:
        log.warning("delivery %s failed for good: %s", delivery.pk, error.message)
        return _record(delivery, Delivery.Status.FAILED, error.message)
    delay = min(config["DELIVERY_RETRY_BASE_SECONDS"] * 2 ** (delivery.attempts - 1),
                config["DELIVERY_RETRY_MAX_SECONDS"])
    outcome = _record(delivery, Delivery.Status.RETRYING, error.message, retry_in_seconds=delay)
    jobs.publish_delivery(delivery.pk, delivery.channel, delivery.attempts, countdown=delay)
    return outcome


def _record(delivery: Delivery, status: str, error: str, *, sent_at=None, retry_in_seconds=None) -> Outcome:
    # Only the claimant of this attempt may write its outcome.
    next_attempt_at = None if retry_in_seconds is None else timezone.now() + timedelta(seconds=retry_in_seconds)
    Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
        status=status, last_error=error[:2000], sent_at=sent_at, next_attempt_at=next_attempt_at
    )
    return Outcome(status, retry_in_seconds)


def redispatch_stuck(now: datetime) -> int:
    """Re-enqueue deliveries whose task was lost (broker down, worker killed mid-send)."""
    stale = now - CLAIM_TIMEOUT
    stuck = Delivery.objects.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]).filter(
        Q(claimed_at__lt=stale) | Q(claimed_at__isnull=True, created_at__lt=stale)
    )
    return _redispatch(list(stuck.values_list("pk", "channel", "attempts")), now)


def redispatch_pending(now: datetime | None = None) -> int:
    """Publish again every delivery whose task is a minute overdue; return how many.

    That is a delivery never claimed a minute after it was written (its task was not published:
    the broker was down when the alert was raised, or it is lost), and a failed one whose retry
    is a minute overdue (the retry's delayed task was lost with a Redis restart, or could not be
    published). A beat job runs this every minute, and `recompute_stale` calls it, so email and
    webhook go out within two minutes of Redis returning without anyone stepping in. Publishing
    a delivery twice is harmless: `deliver` claims each attempt once.
    """
    now = now or timezone.now()
    overdue = now - timedelta(seconds=settings.NEUTROWATCH["DELIVERY_CATCHUP_AFTER_SECONDS"])
    pending = Delivery.objects.filter(
        Q(status=Delivery.Status.PENDING, claimed_at__isnull=True, created_at__lte=overdue)
        | Q(status=Delivery.Status.RETRYING, next_attempt_at__lte=overdue)
    )
    return _redispatch(list(pending.values_list("pk", "channel", "attempts")), now)


def _redispatch(rows: list[tuple[int, str, int]], now: datetime) -> int:
    for delivery_id, channel, attempts in rows:
        if channel == Delivery.Channel.INAPP:
            deliver(delivery_id, attempts, now)
        elif not jobs.publish_delivery(delivery_id, channel, attempts):
            break  # the broker is still down: the next run tries again
    return len(rows)

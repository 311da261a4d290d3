"""Delivering an alert: one `Delivery` row per channel and recipient, sent after commit.

Deliveries follow the healthchecks pattern: a row per channel and recipient is written in the
same transaction as the alert, the transport runs after commit, outside any transaction, and its
outcome is written back. An attempt is claimed with a conditional update on the attempt count,
so two workers never send the same attempt at once.

The claim is a lease (`DELIVERY_LEASE_SECONDS`, 30 s by default) that the sending worker renews
every third of it while the transport runs. A worker killed mid-send (kill -9, the OOM killer, a
lost machine) stops renewing: the lease lapses, and the attempt may be claimed again. The minute
job (`redispatch_pending`) publishes every delivery whose lease has lapsed, and schedules, at the
moment it lapses, the re-send of one whose lease lapses before its next run; so an email lost with
its worker goes out again at most about a minute after the fault. The repeat carries the same
`Idempotency-Key` as the lost attempt, which the receiver may already have had.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import F, Q
from django.utils import timezone

from monitoring import jobs
from monitoring.models import Delivery
from monitoring.transports import TransportError, transport_for

log = logging.getLogger(__name__)

OPEN = (Delivery.Status.PENDING, Delivery.Status.RETRYING)
# A scheduled re-send runs this long after the lease it waits for lapses (clocks of two hosts differ a little).
LAPSE_MARGIN = timedelta(seconds=1)


def lease_length() -> timedelta:
    return timedelta(seconds=settings.NEUTROWATCH["DELIVERY_LEASE_SECONDS"])


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

    The attempt is claimed by a conditional update: it is ours if it has not been made yet, or
    if it was made and its lease lapsed (the worker making it died); a lapsed attempt is made
    again as the next one. A duplicate task, or a redelivered one whose attempt is still leased
    or already finished, changes nothing and sends nothing.
    """
    now = now or timezone.now()
    not_made = Q(attempts=attempt, lease_expires_at__isnull=True)
    lapsed = Q(attempts=attempt + 1, lease_expires_at__lt=now)
    claimed = Delivery.objects.filter(not_made | lapsed, pk=delivery_id, status__in=OPEN).update(
        attempts=F("attempts") + 1, claimed_at=now, lease_expires_at=now + lease_length()
    )
    if not claimed:
        return Outcome("skipped")
    delivery = Delivery.objects.select_related("alert__patient__team", "alert__cycle").get(pk=delivery_id)
    if delivery.attempts > settings.NEUTROWATCH["DELIVERY_MAX_ATTEMPTS"]:
        # Only a lost attempt goes past the limit: the worker died on every attempt of this one.
        return _record(delivery, Delivery.Status.FAILED,
                       f"not sent: the worker was lost during attempt {delivery.attempts - 1} (the last allowed)")
    if delivery.purpose == Delivery.Purpose.ESCALATE and delivery.alert.acknowledged_at is not None:
        return _record(delivery, Delivery.Status.FAILED, "not sent: the alert was acknowledged first")
    # In-app "sending" is one query in this process: nothing to renew a lease for.
    kept = nullcontext() if delivery.channel == Delivery.Channel.INAPP else lease_kept(delivery.pk, delivery.attempts)
    try:
        with kept:
            transport_for(delivery.channel)(delivery)
    except TransportError as error:
        return _record_failure(delivery, error)
    return _record(delivery, Delivery.Status.SENT, "", sent_at=timezone.now())


@contextmanager
def lease_kept(delivery_id: int, attempt_number: int) -> Iterator[None]:
    """Renew the lease on attempt `attempt_number` every third of its length until the block ends.

    A thread renews it, because the transport blocks in a socket call we cannot interrupt. If the
    process dies, so does the thread, and the lease lapses: that is the point.
    """
    stop = threading.Event()
    thread = threading.Thread(target=_renew_until, args=(stop, delivery_id, attempt_number),
                              name=f"lease-delivery-{delivery_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _renew_until(stop: threading.Event, delivery_id: int, attempt_number: int) -> None:
    renewed = False
    try:
        while not stop.wait(lease_length().total_seconds() / 3):
            renewed = True
            Delivery.objects.filter(pk=delivery_id, attempts=attempt_number, status__in=OPEN).update(
                lease_expires_at=timezone.now() + lease_length())
    except DatabaseError:
        # The lease will lapse and the delivery be sent again: a repeat, never a loss.
        log.warning("could not renew the lease of delivery %s", delivery_id, exc_info=True)
    finally:
        if renewed:
            connection.close()  # this thread's own connection


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
    # Only the claimant of this attempt may write its outcome, which ends its lease.
    next_attempt_at = None if retry_in_seconds is None else timezone.now() + timedelta(seconds=retry_in_seconds)
    Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
        status=status, last_error=error[:2000], sent_at=sent_at, next_attempt_at=next_attempt_at,
        lease_expires_at=None,
    )
    return Outcome(status, retry_in_seconds)


def redispatch_stuck(now: datetime) -> int:
    """Publish again every delivery that is overdue now (the sweep's backstop of the minute job)."""
    return _redispatch([(pk, channel, attempt, None) for pk, channel, attempt in overdue(now)], now)


def redispatch_pending(now: datetime | None = None) -> int:
    """Publish again every delivery whose task is overdue, or whose worker died; return how many.

    Overdue (see `overdue`) are published at once. A delivery whose lease will lapse before the
    next run of this job is published with a countdown to that moment: if its worker is alive by
    then it has renewed the lease (or finished) and the task does nothing; if not, the task makes
    the attempt again. A beat job runs this every minute, and `recompute_stale` calls it, so email
    and webhook go out within two minutes of Redis returning, and within about a minute of their
    worker dying, without anyone stepping in. Publishing a delivery twice is harmless: `deliver`
    claims each attempt once.
    """
    now = now or timezone.now()
    rows = [(pk, channel, attempt, None) for pk, channel, attempt in overdue(now)]
    rows += lease_checks(now)
    return _redispatch(rows, now)


def overdue(now: datetime) -> list[tuple[int, str, int]]:
    """Return (delivery id, channel, attempt argument of `deliver`) of each delivery overdue at `now`.

    That is a delivery never claimed a minute after it was written (its task was not published:
    the broker was down when the alert was raised, or it is lost); a failed one whose retry is a
    minute overdue (the retry's delayed task was lost with a Redis restart, or could not be
    published); and one whose lease has lapsed (the worker sending it died), to be made again.
    """
    late = now - timedelta(seconds=settings.NEUTROWATCH["DELIVERY_CATCHUP_AFTER_SECONDS"])
    unclaimed_or_retry = Delivery.objects.filter(
        Q(status=Delivery.Status.PENDING, claimed_at__isnull=True, created_at__lte=late)
        | Q(status=Delivery.Status.RETRYING, next_attempt_at__lte=late, lease_expires_at__isnull=True)
    )
    lost = Delivery.objects.filter(status__in=OPEN, lease_expires_at__lte=now)
    return (list(unclaimed_or_retry.values_list("pk", "channel", "attempts"))
            + [(pk, channel, attempts - 1) for pk, channel, attempts in
               lost.values_list("pk", "channel", "attempts")])


def lease_checks(now: datetime) -> list[tuple[int, str, int, float]]:
    """Return (delivery id, channel, attempt argument, countdown in seconds) for each leased delivery
    whose lease lapses after `now` but before the next run of the minute job (with a margin)."""
    interval = timedelta(seconds=settings.NEUTROWATCH["DELIVERY_CATCHUP_INTERVAL_SECONDS"])
    leased = Delivery.objects.filter(status__in=OPEN, lease_expires_at__gt=now,
                                     lease_expires_at__lte=now + interval + LAPSE_MARGIN * 5)
    return [(pk, channel, attempts - 1, (lapses_at - now + LAPSE_MARGIN).total_seconds())
            for pk, channel, attempts, lapses_at in leased.values_list("pk", "channel", "attempts", "lease_expires_at")]


def _redispatch(rows: list[tuple[int, str, int, float | None]], now: datetime) -> int:
    for delivery_id, channel, attempt, countdown in rows:
        if channel == Delivery.Channel.INAPP:
            if countdown is None:
                deliver(delivery_id, attempt, now)
        elif not jobs.publish_delivery(delivery_id, channel, attempt, countdown=countdown):
            break  # the broker is still down: the next run tries again
    return len(rows)

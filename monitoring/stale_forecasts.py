"""Forecasts out of date for real: counted for the health check, and recomputed by a minute job.

A forecast is stale when its cycle's inputs changed after it was computed (Cycle.input_version).
Just after a save that is normal: the recompute is on its way. Older than its inputs by more than
`STALE_AFTER` (a minute), it is late: the health check reports it (degraded), and the minute job
publishes its recompute again when the forecasts queue holds nothing (the recompute was lost with
the broker, e.g. published while Redis was down). So forecasts left stale by a broker outage are
recomputed within about a minute of the broker returning, not at the 5-minute sweep. While the
queue holds work (a burst of results), the job publishes nothing: re-publishing would only make
the queue longer, and the queued recomputes will bring the forecasts up to date.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from monitoring.models import Cycle

logger = logging.getLogger(__name__)


def stale_after() -> timedelta:
    """Return how long a forecast may lag its inputs before it counts as late (a minute by default)."""
    return timedelta(seconds=settings.STALE_FORECAST_AFTER_SECONDS)


def late_cycles(now: datetime) -> QuerySet:
    """Return the active cycles whose forecast has lagged its inputs for longer than `stale_after()`.

    A cycle whose inputs changed before the change time was recorded (no inputs_changed_at)
    counts as late if stale at all: nothing says it is recent.
    """
    stale = Q(forecast__isnull=True, input_version__gt=0) | Q(forecast__input_version__lt=F("input_version"))
    late = Q(inputs_changed_at__isnull=True) | Q(inputs_changed_at__lt=now - stale_after())
    return (Cycle.objects.filter(course__active=True, course__patient__active=True)
            .exclude(status=Cycle.Status.CANCELLED).filter(stale).filter(late))


def count_late(now: datetime | None = None) -> int:
    """Return how many forecasts are out of date by more than a minute (one query)."""
    return late_cycles(now or timezone.now()).count()


def queued_recomputes() -> int:
    """Return how many tasks wait in the forecasts (default) queue of the broker."""
    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.client.llen(app.conf.task_default_queue)


def recompute_lost(now: datetime | None = None, limit: int = 1000) -> int:
    """Publish again the recomputes of late forecasts if the forecasts queue is empty; return how many."""
    from monitoring import jobs

    ids = list(late_cycles(now or timezone.now()).order_by("planned_day1").values_list("pk", flat=True)[:limit])
    if not ids or queued_recomputes():
        return 0
    logger.info("%d forecasts out of date for over %s with nothing queued: publishing their recomputes",
                len(ids), stale_after())
    return jobs.enqueue_recomputes(ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recompute_lost_forecasts() -> int:
    """Minute job (beat): see recompute_lost."""
    return recompute_lost()

"""Celery application: Redis broker, tasks discovered in the installed apps.

Also the heartbeats of issues 11 and 25: a worker records one for each queue it consumes when it
is ready, and beat records its own every HEARTBEAT_INTERVAL_SECONDS (15 s) from its scheduler loop
(HeartbeatScheduler); and a worker of the alerts queue runs the delivery catch-up when it starts.
"""
import logging
import os
import time

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neutrowatch.settings")

app = Celery("neutrowatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


def _record(component: str) -> None:
    """Record a heartbeat; a database hiccup is logged, never allowed to stop the worker or beat."""
    try:
        from monitoring import health

        health.record_heartbeat(component)
    except Exception:
        logger.warning("could not record the %s heartbeat", component, exc_info=True)


@worker_ready.connect
def record_worker_heartbeats(sender=None, **kwargs) -> None:
    """A worker that has just started is alive for each monitored queue it consumes."""
    from django.conf import settings

    consumed = {queue.name for queue in sender.task_consumer.queues}
    for queue in consumed & set(settings.HEARTBEAT_QUEUES):
        _record(f"worker-{queue}")


@worker_ready.connect
def catch_up_deliveries(sender=None, **kwargs) -> None:
    """A worker of the alerts queue that has just started (often: restarted after it died) runs the
    delivery catch-up at once, so what its predecessor was sending goes out when its lease lapses."""
    from django.conf import settings

    if settings.NEUTROWATCH["ALERTS_QUEUE"] in {queue.name for queue in sender.task_consumer.queues}:
        from monitoring import jobs

        jobs.publish_delivery_catch_up()


class HeartbeatScheduler(PersistentScheduler):
    """Celery's default scheduler that also records beat's own heartbeat (every HEARTBEAT_INTERVAL_SECONDS)."""

    _last_heartbeat = float("-inf")

    def tick(self, *args, **kwargs) -> float:
        from django.conf import settings

        interval = settings.HEARTBEAT_INTERVAL_SECONDS
        if time.monotonic() - self._last_heartbeat >= interval:
            self._last_heartbeat = time.monotonic()
            _record("beat")
        return min(super().tick(*args, **kwargs), interval)

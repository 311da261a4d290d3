"""Heartbeats of the background components, and the checks behind /healthz and the page banner.

Beat writes "beat" every minute from its scheduler loop and publishes the `heartbeat` task to
every worker queue each minute; the worker that runs it writes "worker-<queue>". So a queue's
heartbeat goes stale when its worker stops, and all of them go stale when beat stops.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from monitoring.models import Heartbeat

# Pages warn and /healthz answers 503 once a heartbeat is older than this (issue 11).
HEARTBEAT_STALE_SECONDS = 5 * 60


def record_heartbeat(component: str, now: datetime | None = None) -> None:
    """Record that `component` (e.g. "beat", "worker-celery") is alive now."""
    Heartbeat.objects.update_or_create(
        component=component, defaults={"beaten_at": now or timezone.now(), "hostname": socket.gethostname()}
    )


def expected_components() -> list[str]:
    """Return the heartbeats a deployment with beat and one worker per queue writes."""
    return ["beat", *(f"worker-{queue}" for queue in settings.HEARTBEAT_QUEUES)]


def eager_mode() -> bool:
    """Return True when tasks run in-process (make run without Redis): there is no worker."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER)


@dataclass(frozen=True)
class BackgroundStatus:
    """How the background processing is doing, as the banner and /healthz report it."""

    state: str  # "ok", "stopped" (a heartbeat is missing or too old) or "eager" (no worker at all)
    oldest_beat: datetime | None = None  # the stalest expected heartbeat; None if one never came
    age_s: int | None = None

    @property
    def stopped_at_label(self) -> str:
        """Return when processing stopped in clinic time: HH:MM today, with the date otherwise."""
        local = timezone.localtime(self.oldest_beat)
        return f"{local:%H:%M}" if local.date() == timezone.localdate() else f"{local:%d %b %H:%M}"


def background_status(now: datetime | None = None) -> BackgroundStatus:
    """Return the background status from the heartbeats (one query; none in eager mode)."""
    if eager_mode():
        return BackgroundStatus("eager")
    now = now or timezone.now()
    expected = expected_components()
    beats = dict(Heartbeat.objects.filter(component__in=expected).values_list("component", "beaten_at"))
    if len(beats) < len(expected):
        return BackgroundStatus("stopped", min(beats.values()) if beats else None, None)
    oldest = min(beats.values())
    age_s = max(0, int((now - oldest).total_seconds()))
    return BackgroundStatus("ok" if age_s <= HEARTBEAT_STALE_SECONDS else "stopped", oldest, age_s)


def check_database() -> str:
    """Return "ok" if the database answers a query, else the reason."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any driver error means "down"; the reason goes to the monitor
        return f"down: {type(exc).__name__}"


def check_broker() -> str:
    """Return "ok" if the Celery broker (Redis) answers a ping within a second, else the reason."""
    if eager_mode():
        return "not used (tasks run in-process)"
    import redis

    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1).ping()
        return "ok"
    except redis.RedisError as exc:
        return f"down: {type(exc).__name__}"


def health_report(now: datetime | None = None) -> tuple[dict, bool]:
    """Return the /healthz body and whether everything is up. It holds no patient data."""
    database = check_database()
    report = {"database": database, "broker": check_broker(), "worker_heartbeat_age_s": None}
    failing = [name for name in ("database", "broker") if report[name].startswith("down")]
    if database == "ok":
        status = background_status(now)
        report["worker_heartbeat_age_s"] = status.age_s
        if status.state == "stopped":
            failing.append("worker_heartbeat")
    report["failing"] = failing
    return report, not failing

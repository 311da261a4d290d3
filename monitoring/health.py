"""Heartbeats of the background components, and the checks behind /healthz and the page banner.

Each part reports on its own, named (issue 25):

- `forecasts`, `alerts`, `webhooks`: the worker of each queue. Beat publishes the `heartbeat` task to
  every worker queue every HEARTBEAT_INTERVAL_SECONDS (15 s); the worker that runs it writes
  "worker-<queue>". A worker that stopped, or whose queue is backed up, goes silent.
- `beat`: writes "beat" from its scheduler loop as often. When beat stops, the workers' heartbeats
  stop too (beat sends them): only beat is named then, the workers are "unknown".
- `mllp`: the HL7 MLLP listener writes "mllp" as often (monitoring/management/commands/mllp_listener.py).

A part silent for more than HEARTBEAT_LATE_SECONDS (60 s) is "late", for more than
HEARTBEAT_DOWN_SECONDS (3 min) or never heard from "down". Forecasts older than their inputs by
more than a minute are counted (monitoring/stale_forecasts.py); any of them makes the state
"degraded". /healthz answers 200 only when every part is ok and no forecast is late.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from monitoring import stale_forecasts
from monitoring.models import Heartbeat

OK, LATE, DOWN, UNKNOWN, OFF = "ok", "late", "down", "unknown", "off"


@dataclass(frozen=True)
class Part:
    """One background part: its name on /healthz, its heartbeat, and what stops when it does."""

    name: str
    label: str
    heartbeat: str
    consequence: str


def parts() -> list[Part]:
    """Return the background parts this deployment runs (queue names read from settings now)."""
    neutrowatch = settings.NEUTROWATCH
    found = [
        Part("forecasts", "The forecasts worker", f"worker-{settings.CELERY_TASK_DEFAULT_QUEUE}",
             "forecasts are not being updated"),
        Part("alerts", "The alerts worker", f"worker-{neutrowatch['ALERTS_QUEUE']}",
             "alert emails and escalations are not being sent"),
        Part("webhooks", "The webhooks worker", f"worker-{neutrowatch['WEBHOOKS_QUEUE']}",
             "webhook deliveries to the team's messaging are waiting"),
        Part("beat", "The scheduler (beat)", "beat",
             "escalation of unacknowledged alerts and the catch-up of late forecasts and deliveries are not running"),
    ]
    monitored = set(settings.HEARTBEAT_QUEUES)
    found = [p for p in found if p.name == "beat" or p.heartbeat.removeprefix("worker-") in monitored]
    if settings.HEALTH_MLLP != OFF:
        found.append(Part("mllp", "The HL7 (MLLP) listener", "mllp",
                          "results sent by the laboratory over HL7 are not being received"))
    return found


def record_heartbeat(component: str, now: datetime | None = None) -> None:
    """Record that `component` (e.g. "beat", "worker-celery", "mllp") is alive now."""
    Heartbeat.objects.update_or_create(
        component=component, defaults={"beaten_at": now or timezone.now(), "hostname": socket.gethostname()}
    )


def expected_components() -> list[str]:
    """Return the heartbeats a deployment with beat and one worker per queue writes (MLLP aside)."""
    return ["beat", *(f"worker-{queue}" for queue in settings.HEARTBEAT_QUEUES)]


def eager_mode() -> bool:
    """Return True when tasks run in-process (make run without Redis): there is no worker."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER)


@dataclass(frozen=True)
class PartStatus:
    """How one part is doing: ok, late, down, unknown (beat is down) or off (an MLLP never run here)."""

    part: Part
    state: str
    beaten_at: datetime | None = None
    age_s: int | None = None

    @property
    def failing(self) -> bool:
        return self.state in (LATE, DOWN)

    @property
    def sentence(self) -> str:
        """Return what the banner says about a failing part, in clinic time."""
        label, consequence = self.part.label, self.part.consequence
        if self.beaten_at is None:
            return f"{label} is not running (never reported): {consequence}."
        if self.state == LATE:
            return f"{label} has not reported for {self.age_s} s (stopped, or its queue is backed up): {consequence}."
        return f"{label} stopped at {_clinic_time(self.beaten_at)}: {consequence}."


@dataclass(frozen=True)
class BackgroundStatus:
    """How the background processing is doing, as the banner and /healthz report it.

    `state`: "ok"; "degraded" (a part late, or forecasts late: an amber banner); "stopped" (a part
    down: a red banner); "eager" (no worker at all: make run without Redis).
    """

    state: str
    parts: list[PartStatus] = field(default_factory=list)
    late_forecasts: int = 0

    @property
    def failing(self) -> list[PartStatus]:
        return [p for p in self.parts if p.failing]

    @property
    def sentences(self) -> list[str]:
        """Return the banner's lines: each failing part by name, then the late forecasts."""
        lines = [p.sentence for p in self.failing]
        if self.late_forecasts:
            plural = "s are" if self.late_forecasts != 1 else " is"
            lines.append(f"{self.late_forecasts} forecast{plural} out of date by more than a minute "
                         "(older than the patient's latest results).")
        return lines

    @property
    def oldest_age_s(self) -> int | None:
        ages = [p.age_s for p in self.parts if p.age_s is not None and p.state != OFF]
        return max(ages) if ages else None


def _clinic_time(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%H:%M}" if local.date() == timezone.localdate() else f"{local:%d %b %H:%M}"


def _state(age_s: int | None) -> str:
    if age_s is None or age_s > settings.HEARTBEAT_DOWN_SECONDS:
        return DOWN
    return LATE if age_s > settings.HEARTBEAT_LATE_SECONDS else OK


def background_status(now: datetime | None = None) -> BackgroundStatus:
    """Return the status of every background part and the late forecasts (two queries; none in eager mode)."""
    if eager_mode():
        return BackgroundStatus("eager")
    now = now or timezone.now()
    known = parts()
    beats = dict(Heartbeat.objects.filter(component__in=[p.heartbeat for p in known])
                 .values_list("component", "beaten_at"))
    statuses = []
    for part in known:
        beaten_at = beats.get(part.heartbeat)
        age_s = max(0, int((now - beaten_at).total_seconds())) if beaten_at is not None else None
        state = _state(age_s)
        if part.name == "mllp" and beaten_at is None and settings.HEALTH_MLLP == "auto":
            state = OFF  # no listener has ever run here: this site takes no HL7 over MLLP
        statuses.append(PartStatus(part, state, beaten_at, age_s))
    beat = next(s for s in statuses if s.part.name == "beat")
    if beat.failing:  # beat sends the workers' heartbeat tasks: their silence says nothing of them
        statuses = [PartStatus(s.part, UNKNOWN, s.beaten_at, s.age_s) if s.part.heartbeat.startswith("worker-")
                    else s for s in statuses]
    late = stale_forecasts.count_late(now)
    if any(s.state == DOWN for s in statuses):
        state = "stopped"
    else:
        state = "degraded" if late or any(s.failing for s in statuses) else "ok"
    return BackgroundStatus(state, statuses, late)


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
    """Return the /healthz body and whether everything is up and on time. It holds no patient data."""
    database = check_database()
    report: dict = {"status": "down", "database": database, "broker": check_broker(), "components": {},
                    "late_forecasts": None, "worker_heartbeat_age_s": None}
    failing = [name for name in ("database", "broker") if report[name].startswith("down")]
    if database == "ok":
        status = background_status(now)
        report["components"] = {
            s.part.name: {"state": s.state, "heartbeat_age_s": s.age_s, "heartbeat": s.part.heartbeat}
            for s in status.parts
        }
        report["late_forecasts"] = status.late_forecasts
        report["worker_heartbeat_age_s"] = status.oldest_age_s
        failing += [s.part.name for s in status.failing]
        if status.late_forecasts:
            failing.append("late_forecasts")
    report["failing"] = failing
    down = bool({"database", "broker"} & set(failing)) or any(
        entry["state"] == DOWN for entry in report["components"].values())
    report["status"] = "ok" if not failing else "down" if down else "degraded"
    return report, not failing

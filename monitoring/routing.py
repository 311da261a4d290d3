"""Which Celery queue each task goes to: alerts never wait behind recomputes or slow webhooks.

- `celery` (CELERY_TASK_DEFAULT_QUEUE): recomputes, the sweep, learning priors. A backlog of
  thousands of recomputes waits here without holding up any delivery.
- `alerts` (NEUTROWATCH["ALERTS_QUEUE"]): email and in-app deliveries, escalation and the
  delivery catch-up job, served by worker processes of their own.
- `webhooks` (NEUTROWATCH["WEBHOOKS_QUEUE"]): webhook deliveries, so a receiver that answers
  slowly (or not at all, until the short timeout) holds up webhooks only, never email or in-app.

`CELERY_TASK_ROUTES` names `route_task`; the queue names are read from settings when a task is
published (not at import time), so tests can give each worker private queues.
"""

from __future__ import annotations

from django.conf import settings

ALERT_TASKS = frozenset({
    "monitoring.tasks.deliver",
    "monitoring.tasks.escalate",
    "monitoring.tasks.redispatch_pending_deliveries",
    "monitoring.tasks.audit_escalations",
    "monitoring.tasks.fire_escalation",
    "monitoring.tasks.tell_registration_waiting",
})


def alerts_queue() -> str:
    return settings.NEUTROWATCH["ALERTS_QUEUE"]


def webhooks_queue() -> str:
    return settings.NEUTROWATCH["WEBHOOKS_QUEUE"]


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router: alert tasks to the alerts queue; everything else to the default queue."""
    if name in ALERT_TASKS:
        return {"queue": alerts_queue()}
    return None


def delivery_queue(channel: str) -> str:
    """Return the queue a delivery of `channel` is published to."""
    # SMS goes out over HTTP to a gateway: a slow gateway, like a slow webhook, holds up only its queue.
    return webhooks_queue() if channel in ("webhook", "sms") else alerts_queue()

"""Thin Celery tasks of the escalation timers (registered by an import in monitoring/tasks.py)."""

from celery import shared_task

from monitoring.duty import timers


@shared_task(acks_late=True, reject_on_worker_lost=True)
def audit() -> int:
    """Fire every escalation step that is due (beat runs this every DUTY_AUDITOR_SECONDS)."""
    return timers.fire_due()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def fire_escalation(alert_id: int) -> int:
    """Fire one alert's due steps now (a countdown's speed-up; the auditor is the record)."""
    return timers.fire_due(alert_id=alert_id)

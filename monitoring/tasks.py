"""Thin Celery tasks: take ids, make one domain call.

Tasks call into the domain, never the reverse: the domain publishes work through
`monitoring.jobs`, which names these tasks. Every task is idempotent (safe to run twice), so
they are all acks_late with reject-on-worker-lost: a task whose worker died mid-run is delivered again.
"""
from celery import shared_task

from monitoring import alerts, forecasts, health, records
from monitoring.alerts import timers
from monitoring.transports import TransportError

# The registration e-mail is retried for about half an hour while the mail server refuses it for now.
REGISTRATION_MAIL_RETRIES = 5
REGISTRATION_MAIL_RETRY_SECONDS = 300


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recompute_cycle(cycle_id: int) -> None:
    forecasts.recompute_cycle(cycle_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recompute_cycles(cycle_ids: list[int]) -> int:
    """A fan-out of many cycles' recomputes (see jobs.enqueue_recomputes): one task per cycle."""
    return forecasts.fan_out_recomputes(cycle_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recompute_stale() -> int:
    return forecasts.recompute_stale()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def learn_regimen_priors() -> dict:
    return forecasts.learn_regimen_priors()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver(delivery_id: int, attempt: int = 0) -> str:
    """Make one attempt of one delivery; a transient failure schedules the next attempt."""
    return alerts.deliver(delivery_id, attempt).status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def escalate() -> int:
    return alerts.escalate_due()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def redispatch_pending_deliveries() -> int:
    return alerts.redispatch_pending()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep() -> dict:
    return alerts.sweep()


@shared_task(ignore_result=True)
def heartbeat(component: str) -> None:
    """Record that the worker consuming this task's queue is alive (beat sends one per queue each minute)."""
    health.record_heartbeat(component)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def audit_escalations() -> int:
    """Fire every escalation step that is due (beat runs this every DUTY_AUDITOR_SECONDS)."""
    return timers.fire_due()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def fire_escalation(alert_id: int) -> int:
    """Fire one alert's due steps now (a countdown's speed-up; the auditor is the record)."""
    return timers.fire_due(alert_id=alert_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def tell_registration_waiting(self, request_id: int) -> int:
    """E-mail the administrators that a nurse's registration request waits (once, after it is stored)."""
    try:
        return records.tell_administrators(request_id)
    except TransportError as error:
        if error.permanent:
            raise
        raise self.retry(exc=error, countdown=REGISTRATION_MAIL_RETRY_SECONDS,
                         max_retries=REGISTRATION_MAIL_RETRIES) from error

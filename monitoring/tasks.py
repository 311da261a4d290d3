"""Thin Celery tasks: take ids, make one service call.

Every task is idempotent (safe to run twice), so they are all acks_late with
reject-on-worker-lost: a task whose worker died mid-run is delivered again.
"""
from celery import shared_task

from monitoring import alerting, health, services
from monitoring.duty import tasks as duty_tasks  # noqa: F401 (registers the escalation timer tasks)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recompute_cycle(cycle_id: int) -> None:
    services.recompute_cycle(cycle_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recompute_cycles(cycle_ids: list[int]) -> int:
    """A fan-out of many cycles' recomputes (see services.enqueue_recomputes): one task per cycle."""
    return services.fan_out_recomputes(cycle_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recompute_stale() -> int:
    return services.recompute_stale()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def learn_regimen_priors() -> dict:
    return services.learn_regimen_priors()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver(delivery_id: int, attempt: int = 0) -> str:
    """Make one attempt of one delivery; a transient failure schedules the next attempt."""
    return alerting.deliver(delivery_id, attempt).status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def escalate() -> int:
    return alerting.escalate_due()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def redispatch_pending_deliveries() -> int:
    return alerting.redispatch_pending()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep() -> dict:
    return alerting.sweep()


@shared_task(ignore_result=True)
def heartbeat(component: str) -> None:
    """Record that the worker consuming this task's queue is alive (beat sends one per queue each minute)."""
    health.record_heartbeat(component)

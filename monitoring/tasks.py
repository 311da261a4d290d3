"""Thin Celery tasks: take ids, make one service call."""
from celery import shared_task

from monitoring import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recompute_cycle(cycle_id: int) -> None:
    services.recompute_cycle(cycle_id)


@shared_task
def recompute_stale() -> int:
    return services.recompute_stale()

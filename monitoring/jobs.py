"""Publishing background work: the one place the domain hands work to Celery.

Domain modules never import `monitoring.tasks` (the tasks call into the domain, never the
reverse): they publish through this module, which names each task and sends it by name. Work
that depends on a transaction is published from `transaction.on_commit` by the caller.

Publishing never holds up a save for long: it retries once after 0.1 s, then gives up, and the
periodic jobs (`recompute_stale`, `redispatch_pending`) catch up with whatever was not published.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import current_app

from monitoring import routing

log = logging.getLogger(__name__)

RECOMPUTE_CYCLE = "monitoring.tasks.recompute_cycle"
RECOMPUTE_CYCLES = "monitoring.tasks.recompute_cycles"
DELIVER = "monitoring.tasks.deliver"
FIRE_ESCALATION = "monitoring.tasks.fire_escalation"
REDISPATCH_PENDING = "monitoring.tasks.redispatch_pending_deliveries"
TELL_REGISTRATION = "monitoring.tasks.tell_registration_waiting"

# Publishing gives up fast when the broker is down: the sweep re-dispatches what was not sent.
FAST_PUBLISH = {"retry": True, "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.1,
                                                  "interval_max": 0.1}}

# Publishing one Celery task costs about a millisecond of Python. A change that touches many cycles
# at once (an import, a burst of MLLP messages stored together) publishes one fan-out task per
# FANOUT_CHUNK cycles instead, which a worker splits into one recompute task per cycle (so they
# still run in parallel on every worker). Fewer cycles are published one task each, as before.
FANOUT_FROM = 8
FANOUT_CHUNK = 500


def send(name: str, args: tuple, **options) -> None:
    """Publish task `name` with `args` (raises the broker's error if it cannot be reached).

    The task is looked up by name in the app's registry, so eager mode and the task's own options
    apply as if it were called directly. A web process has not discovered the tasks modules yet
    the first time: Celery's own autodiscovery (the app's `import_modules` signal) loads them.
    """
    registry = current_app.tasks
    if name not in registry:
        current_app.loader.import_default_modules()
    registry[name].apply_async(args, **{**FAST_PUBLISH, **options})


def enqueue_recomputes(cycle_ids: Iterable[int]) -> int:
    """Publish the recomputes of these cycles; if the broker is unreachable, log it and rely on the sweeper.

    Returns how many cycles' recomputes were published (in order: the first N of `cycle_ids`).
    Publishing retries once after 0.1 s, then gives up (tens of milliseconds with the broker
    down), so a save is never held up for long.
    """
    cycle_ids = list(cycle_ids)
    if len(cycle_ids) < FANOUT_FROM:
        return publish_each(cycle_ids)
    return _publish([cycle_ids[start:start + FANOUT_CHUNK] for start in range(0, len(cycle_ids), FANOUT_CHUNK)],
                    fan_out=True)


def publish_each(cycle_ids: list[int]) -> int:
    """Publish one recompute task per cycle; return how many were published."""
    return _publish([[cycle_id] for cycle_id in cycle_ids], fan_out=False)


def _publish(groups: list[list[int]], *, fan_out: bool) -> int:
    """Publish one task per group of cycle ids (a fan-out task, or a recompute of a single cycle).

    Returns how many cycles' recomputes were published before the broker failed, if it did.
    """
    published = 0
    for group in groups:
        try:
            if fan_out:
                send(RECOMPUTE_CYCLES, (group,))
            else:
                send(RECOMPUTE_CYCLE, (group[0],))
        except Exception:  # kombu raises OperationalError and friends; the save must stand.
            left = sum(len(g) for g in groups) - published
            log.warning("broker unreachable: %d cycle(s) left stale for recompute_stale", left)
            return published
        published += len(group)
    return published


def publish_delivery(delivery_id: int, channel: str, attempt: int, countdown: float | None = None) -> bool:
    """Enqueue one attempt of a delivery on its channel's queue; False if the broker is unreachable.

    Nothing is lost when publishing fails: the delivery stays pending and the catch-up job
    (`redispatch_pending`, every minute) publishes it again.
    """
    try:
        send(DELIVER, (delivery_id, attempt), countdown=countdown, queue=routing.delivery_queue(channel))
    except Exception:  # kombu's OperationalError and friends
        log.warning("broker unreachable: delivery %s left for the catch-up job", delivery_id)
        return False
    return True


def publish_delivery_catch_up() -> bool:
    """Enqueue one run of the delivery catch-up job now; False if the broker is unreachable.

    An `alerts` worker does this when it starts: a worker starting is often one restarting after
    it died, and the sends it was making are then re-sent the moment their leases lapse instead
    of at the next minute job.
    """
    try:
        send(REDISPATCH_PENDING, ())
    except Exception:  # kombu's OperationalError and friends
        log.warning("broker unreachable: the delivery catch-up waits for its beat job")
        return False
    return True


def publish_registration_waiting(request_id: int) -> bool:
    """Enqueue the e-mail telling administrators a registration request waits; False if the broker is down.

    Nothing depends on it: the request is stored, and every page an administrator opens counts the
    requests that wait (context_processors.registrations_waiting).
    """
    try:
        send(TELL_REGISTRATION, (request_id,))
    except Exception:  # kombu's OperationalError and friends: the nurse's request stands
        log.warning("broker unreachable: registration request %d not e-mailed (the admin menu counts it)", request_id)
        return False
    return True

"""The sweep: re-run the rules whose answer changes with time alone, and re-send lost deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring.alerts.delivery import redispatch_stuck
from monitoring.alerts.evaluate import evaluate_alerts, evaluate_patient_alerts
from monitoring.models import Alert, Cycle

# The sweep looks at cycles that started within this many days (longer than any cycle).
SWEEP_CYCLE_LOOKBACK = timedelta(days=60)


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Re-run the rules whose answer changes with time alone, and re-send lost deliveries.

    Nadir windows open and close, G-CSF falls due on day 3, a fever ages out of its 24 hours,
    a cycle ends when the next one starts: none of that saves a result, so a beat job calls
    this every few minutes. Returns counts of what it did.
    """
    now = now or timezone.now()
    raised = sum(len(evaluate_alerts(cycle_id, now)) for cycle_id in cycles_to_sweep(now))
    patients = Alert.objects.filter(resolved_at__isnull=True, cycle__isnull=True).values_list("patient_id", flat=True)
    raised += sum(len(evaluate_patient_alerts(patient_id, now)) for patient_id in sorted(set(patients)))
    return {"alerts_raised": raised, "deliveries_redispatched": redispatch_stuck(now)}


def cycles_to_sweep(now: datetime) -> list[int]:
    """Return the cycles under way (started in the last 60 days) and those with a live alert."""
    started = (
        Cycle.objects.filter(course__active=True, course__patient__active=True)
        .exclude(status=Cycle.Status.CANCELLED)
        .annotate(day1_at=Coalesce("actual_day1", "planned_day1"))
        .filter(day1_at__lte=now, day1_at__gte=now - SWEEP_CYCLE_LOOKBACK)
        .values_list("pk", flat=True)
    )
    alerted = Alert.objects.filter(resolved_at__isnull=True, cycle__isnull=False).values_list("cycle_id", flat=True)
    return sorted(set(started) | set(alerted))

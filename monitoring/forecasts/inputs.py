"""What a forecast is computed from: which cycles a change touches, and marking their forecasts stale.

A forecast is stale when its cycle's `input_version` is ahead of the forecast's: a change bumps
the version in the saving transaction and publishes one recompute per cycle when it commits.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from monitoring import jobs
from monitoring.models import Cycle
from monitoring.models.care import current_cycle_of, patient_cycles

# A clock a few minutes fast (an analyser's, a ward PC's) is not an error: every entry path
# accepts a time up to this far ahead of its own clock, so a forecast reads its inputs as far.
FUTURE_TOLERANCE = timedelta(minutes=5)


def affected_cycle_ids(patient_id: int, moments: Iterable[datetime], now: datetime) -> set[int]:
    """Return the cycles whose forecast depends on inputs at `moments`.

    That is the cycle each input falls in, and the patient's current cycle, whose
    forecast learns from every earlier count. One query.
    """
    return affected_cycle_ids_bulk({patient_id: list(moments)}, now)


def mark_inputs_changed(cycle_ids: Iterable[int]) -> None:
    """Bump the cycles' input versions and enqueue one recompute each on commit."""
    cycle_ids = sorted(set(cycle_ids))
    if not cycle_ids:
        return
    Cycle.objects.filter(pk__in=cycle_ids).update(input_version=F("input_version") + 1, inputs_changed_at=Now())
    transaction.on_commit(lambda: jobs.enqueue_recomputes(cycle_ids))


def affected_cycle_ids_bulk(moments_by_patient: dict[int, list[datetime]], now: datetime, *,
                            cycles: dict[int, list[Cycle]] | None = None) -> set[int]:
    """Return affected_cycle_ids() for many patients at once, from one query.

    `cycles`: each patient's cycles (every course, cancelled ones left out) if already loaded,
    as patient_cycles returns them; then no query.
    """
    if cycles is None:
        cycles = patient_cycles(list(moments_by_patient))
    ids: set[int] = set()
    for patient_id, moments in moments_by_patient.items():
        by_day1 = sorted(cycles.get(patient_id, []), key=lambda c: c.day1)
        day1s = [c.day1 for c in by_day1]
        for moment in set(moments):
            index = bisect.bisect_right(day1s, moment)
            if index:
                ids.add(by_day1[index - 1].pk)
        current = current_cycle_of(by_day1, now)
        if current is not None:
            ids.add(current.pk)
    return ids

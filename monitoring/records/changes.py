"""A change of results: mark the forecasts it touches stale and run the observed alert rules now."""

from __future__ import annotations

from datetime import datetime

from monitoring.alerts import evaluate
from monitoring.forecasts.inputs import affected_cycle_ids_bulk, mark_inputs_changed
from monitoring.models.care import patient_cycles


def results_changed(moments_by_patient: dict[int, list[datetime]], now: datetime) -> None:
    """Bump the forecasts the change affects (recomputed on commit) and run the observed rules now.

    Both read the patients' cycles from one query, which also takes the row locks the rules need.
    """
    if not moments_by_patient:
        return
    cycles = patient_cycles(list(moments_by_patient), lock=True)
    mark_inputs_changed(affected_cycle_ids_bulk(moments_by_patient, now, cycles=cycles))
    evaluate.evaluate_observed(moments_by_patient, now, cycles=cycles)

"""Replay a cycle's past: the forecasts that would have been made before each later count, scored.

In the clinic a forecast is scored when the next result replaces it (`scoring.score_forecast`),
so a database loaded with months of history at once (the demo, a migration from another system)
has no scores and the calibration page shows nothing. Replaying walks each cycle forward: at the
day-1 dose and after each count of the cycle, it makes the forecast from what was known then and
scores it against the counts that arrived before the next of those moments. No forecast is stored
and no alert rule runs: only ForecastScore rows are written (idempotent, one per forecast and count).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitoring import forecasting, selectors
from monitoring.forecasts.scoring import score_forecast
from monitoring.models import CountResult, Cycle, Forecast, LearnedPrior

# A forecast "just after" a moment: the count of that moment is in it, and scored by the one before.
AFTER = timedelta(minutes=1)


def replay_cycle(cycle: Cycle, now: datetime) -> int:
    """Score the forecasts made at the cycle's day 1 and after each of its counts; return how many scores."""
    regimen = cycle.course.regimen
    end = min(now, cycle.day1 + timedelta(days=regimen.cycle_length_days))
    counts = list(CountResult.objects.filter(patient_id=cycle.course.patient_id, collected_at__gte=cycle.day1,
                                             collected_at__lt=end).order_by("collected_at", "pk")
                  .values_list("collected_at", flat=True))
    moments = [cycle.day1 + AFTER] + [at + AFTER for at in counts]
    population = _population(regimen)
    scored = 0
    for made_at, until in zip(moments, [*moments[1:], now], strict=True):
        forecast = _forecast_as_of(cycle, made_at, population)
        if forecast is not None:
            scored += score_forecast(forecast, cycle, until)
    return scored


def replay_patients(patient_ids: list[int], now: datetime) -> int:
    """Replay every given cycle of these patients' courses; return how many scores were written."""
    cycles = (Cycle.objects.filter(course__patient_id__in=patient_ids, actual_day1__lte=now)
              .select_related("course__regimen").order_by("course_id", "number"))
    return sum(replay_cycle(cycle, now) for cycle in cycles)


def _forecast_as_of(cycle: Cycle, made_at: datetime, population) -> Forecast | None:
    """Return the forecast the engine makes from what was known at `made_at` (unsaved), or None."""
    try:
        result = forecasting.forecast_history(selectors.forecast_history(cycle, as_of=made_at), population)
    except forecasting.HistoryError:
        return None
    return Forecast(cycle=cycle, as_of=made_at, computed_at=made_at, error="", p_grade4=result.get("p_grade4"),
                    trajectory=result.get("trajectory", []))


def _population(regimen):
    try:
        return forecasting.population_from_dict(regimen.learned_prior.parameters)
    except LearnedPrior.DoesNotExist:
        return None

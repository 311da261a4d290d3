"""Calibration in the clinic: how well stored forecasts did on the counts that came after them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Q

from monitoring import clinical
from monitoring.models import CountResult, Cycle


def calibration_summary(now: datetime) -> dict:
    """Return how well the stored forecasts did on the counts that arrived after them.

    Clinic-wide, per regimen and overall, aggregates only (no patient appears): scored predictions,
    share inside the 80 % band, mean absolute log10 error, mean PIT, and grade-4 forecasts against
    outcomes. For the latter each finished cycle (day 1 + cycle length has passed) with a score
    counts once: its first scored forecast's P(grade 4) against whether a count below 0.5 was
    measured in the cycle.
    """
    from django.conf import settings
    from django.db.models import Avg
    from django.db.models.functions import Abs

    from monitoring.models import ForecastScore

    aggregates = {"n": Count("pk"), "inside": Count("pk", filter=Q(inside80=True)),
                  "mae": Avg(Abs("log10_error")), "pit": Avg("pit")}
    overall = ForecastScore.objects.aggregate(**aggregates)
    per_regimen = ForecastScore.objects.values("regimen__code").annotate(**aggregates).order_by("regimen__code")
    grade4 = _grade4_outcomes(now, settings.NEUTROWATCH["GRADE4_PREDICTED_THRESHOLD"])
    regimens = [{"regimen": row["regimen__code"], **_calibration_figures(row),
                 "grade4": grade4.get(row["regimen__code"], _empty_grade4())} for row in per_regimen]
    total_grade4 = _empty_grade4()
    for table in grade4.values():
        for key in total_grade4:
            total_grade4[key] += table[key]
    return {**_calibration_figures(overall), "grade4": total_grade4, "regimens": regimens,
            "grade4_threshold": settings.NEUTROWATCH["GRADE4_PREDICTED_THRESHOLD"]}


def _calibration_figures(row: dict) -> dict:
    n = row["n"] or 0
    return {"n": n, "cover80": round(row["inside"] / n, 3) if n else None,
            "mae_log10": round(row["mae"], 3) if n else None, "mean_pit": round(row["pit"], 3) if n else None}


def _empty_grade4() -> dict:
    return {"cycles": 0, "predicted_and_observed": 0, "predicted_not_observed": 0, "observed_not_predicted": 0,
            "neither": 0}


def _grade4_outcomes(now: datetime, threshold: float) -> dict[str, dict]:
    """Return per regimen code the 2x2 table of grade-4 forecasts against grade-4 outcomes.

    Three queries however many cycles: the scores, the finished cycles, and the grade-4 counts
    of their patients over the span of those cycles (matched to each cycle here).
    """
    from monitoring.models import ForecastScore

    first: dict[int, float | None] = {}
    for cycle_id, p_grade4 in (ForecastScore.objects.order_by("cycle_id", "forecast_as_of")
                               .values_list("cycle_id", "p_grade4")):
        first.setdefault(cycle_id, p_grade4)
    windows = {}  # cycle -> [day 1, day 1 + cycle length)
    for cycle in Cycle.objects.filter(pk__in=first).select_related("course__regimen"):
        end = cycle.day1 + timedelta(days=cycle.course.regimen.cycle_length_days)
        if end <= now:
            windows[cycle] = (cycle.day1, end)
    grade4_at: dict[int, list[datetime]] = {}
    if windows:
        grade4_counts = CountResult.objects.filter(
            patient_id__in={cycle.course.patient_id for cycle in windows}, anc_1e9_per_l__lt=clinical.GRADE4_BELOW,
            collected_at__gte=min(start for start, _ in windows.values()),
            collected_at__lt=max(end for _, end in windows.values()))
        for patient_id, collected_at in grade4_counts.values_list("patient_id", "collected_at"):
            grade4_at.setdefault(patient_id, []).append(collected_at)
    tables: dict[str, dict] = {}
    for cycle, (start, end) in windows.items():
        table = tables.setdefault(cycle.course.regimen.code, _empty_grade4())
        predicted = (first[cycle.pk] or 0.0) >= threshold
        observed = any(start <= at < end for at in grade4_at.get(cycle.course.patient_id, ()))
        key = {(True, True): "predicted_and_observed", (True, False): "predicted_not_observed",
               (False, True): "observed_not_predicted", (False, False): "neither"}[(predicted, observed)]
        table[key] += 1
        table["cycles"] += 1
    return tables

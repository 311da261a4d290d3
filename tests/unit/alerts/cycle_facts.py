"""Plain cycle facts for the alert-rule tests: a 21-day intermediate-risk cycle given at DAY1, and its points."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from monitoring.alerts import rules
from monitoring.clinical import TemperaturePoint

DAY1 = datetime(2026, 5, 11, 9, 0, tzinfo=UTC)
T = rules.Thresholds()


def facts(day: float = 5, **changes) -> rules.CycleFacts:
    """An intermediate-risk 21-day cycle given at DAY1, looked at on cycle day `day`."""
    base = rules.CycleFacts(
        now=DAY1 + timedelta(days=day - 1), clinic_tz=UTC, cycle_number=1, day1=DAY1, chemo_given=True,
        cycle_over=False, next_day1=DAY1 + timedelta(days=21), fn_risk="intermediate",
        nadir_window_days=(7, 10), next_cycle_anc_1e9_per_l=Decimal("1.5"),
    )
    return replace(base, **changes)


def count(day: float, anc: str) -> rules.CountPoint:
    return rules.CountPoint(DAY1 + timedelta(days=day - 1), Decimal(anc), count_id=int(day * 10))


def temp(day: float, celsius: str) -> TemperaturePoint:
    return TemperaturePoint(DAY1 + timedelta(days=day - 1), Decimal(celsius))


def forecast(p_grade4=0.1, p_ready=0.9, nadir_day=8.0, trajectory=()) -> rules.ForecastFacts:
    return rules.ForecastFacts(nadir_anc_1e9_per_l=0.6, nadir_lo80=0.3, nadir_hi80=1.1,
                               nadir_at=DAY1 + timedelta(days=nadir_day - 1), p_grade4=p_grade4,
                               p_ready=p_ready, trajectory=tuple(trajectory))


def point(day: float, anc: float, lo80: float) -> rules.TrajectoryPoint:
    return rules.TrajectoryPoint(DAY1 + timedelta(days=day - 1), anc, lo80, anc * 1.5)


def chemo(day: float, infusion_hours: int = 0) -> rules.ChemoPoint:
    """A chemotherapy dose started on cycle day `day`, with a continuous infusion of `infusion_hours` after it."""
    return rules.ChemoPoint(DAY1 + timedelta(days=day - 1), infusion_hours)


def kinds(cycle_facts: rules.CycleFacts) -> dict[str, rules.Finding]:
    return {f.kind: f for f in rules.evaluate(cycle_facts, T)}


def gcsf(day: float, product: str = "pegfilgrastim") -> rules.GcsfPoint:
    return rules.GcsfPoint(DAY1 + timedelta(days=day - 1), product, dose_id=7)

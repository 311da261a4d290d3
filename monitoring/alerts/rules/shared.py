"""Helpers the rules share: the nadir window, latest counts and fevers, the forecast low, times in words."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitoring import clinical
from monitoring.alerts.rules.facts import (
    TRAJECTORY_SLACK,
    CountPoint,
    CycleFacts,
    ForecastFacts,
    Thresholds,
    TrajectoryPoint,
)
from monitoring.cycle_calendar import cycle_day_bounds


def nadir_window(facts: CycleFacts) -> tuple[datetime, datetime]:
    """Return the predicted nadir window: forecast nadir +/- 2 days, else the regimen's days."""
    forecast = facts.forecast
    if forecast is not None and forecast.nadir_at is not None:
        half = clinical.NADIR_WINDOW_HALF_WIDTH
        return forecast.nadir_at - half, forecast.nadir_at + half
    first, last = facts.nadir_window_days
    # Day N is a calendar day in clinic time (monitoring.cycle_calendar); the window ends with its last day.
    return cycle_day_bounds(facts.day1, first, last, facts.clinic_tz)



def _cycle_counts(facts: CycleFacts) -> list[CountPoint]:
    return [c for c in facts.counts if facts.day1 <= c.collected_at <= facts.now]



def _latest_count(facts: CycleFacts) -> CountPoint | None:
    counts = [c for c in facts.counts if c.collected_at <= facts.now]
    # Two results collected at the same moment: the one received last (higher id) is the latest,
    # as the ward and the patient page take it.
    return max(counts, key=lambda c: (c.collected_at, c.count_id or 0)) if counts else None



def _recent_temperatures(facts: CycleFacts) -> list[clinical.TemperaturePoint]:
    return [t for t in facts.temperatures if facts.now - clinical.FN_FEVER_LOOKBACK <= t.taken_at <= facts.now]



def _fever(facts: CycleFacts, thresholds: Thresholds) -> clinical.TemperaturePoint | None:
    return clinical.fever_episode(_recent_temperatures(facts), thresholds.fever_policy)



def _forecast_low_within(facts: CycleFacts, start: datetime, horizon: timedelta) -> TrajectoryPoint | None:
    """Return the first trajectory point within `horizon` of `start` whose lower bound is below 0.5."""
    if facts.forecast is None:
        return None
    below = float(clinical.FN_PREDICTED_ANC_BELOW)
    for point in facts.forecast.trajectory:
        if start - TRAJECTORY_SLACK <= point.time <= start + horizon and point.lo80 < below:
            return point
    return None



def _recovery_words(facts: CycleFacts, threshold: float) -> str:
    """Return ' Predicted recovery to <threshold> around <day>.' from the median trajectory."""
    forecast = facts.forecast
    if forecast is None or not forecast.trajectory:
        return ""
    after = forecast.nadir_at or facts.now
    for point in forecast.trajectory:
        if point.time >= after and point.anc >= threshold:
            return f" Predicted recovery to {threshold:g} x10^9/L around {_day(point.time, facts)}."
    return f" No recovery to {threshold:g} x10^9/L is predicted within the forecast window."



def _as_received(count: CountPoint, key: str = "anc_as_received") -> dict:
    """Return {key: "<0.1"} for a censored count (its evidence then reads as the lab reported it), else {}."""
    return {key: count.anc_text} if count.qualifier else {}


def _nadir_words(forecast: ForecastFacts, facts: CycleFacts) -> str:
    if forecast.nadir_anc_1e9_per_l is None:
        return ""
    # As the header prints it (`|anc`): never rounded across a grade boundary (0.499, not "0.50").
    words = f", nadir about {clinical.number_text(forecast.nadir_anc_1e9_per_l)} x10^9/L"
    if forecast.nadir_lo80 is not None and forecast.nadir_hi80 is not None:
        words += (f" (80 % interval {clinical.number_text(forecast.nadir_lo80)}-"
                  f"{clinical.number_text(forecast.nadir_hi80)})")
    if forecast.nadir_at is not None:
        words += f" around {_day(forecast.nadir_at, facts)}"
    return words



def _nadir_evidence(forecast: ForecastFacts) -> dict:
    return {
        "nadir_anc_1e9_per_l": forecast.nadir_anc_1e9_per_l,
        "nadir_interval80": [forecast.nadir_lo80, forecast.nadir_hi80],
        "nadir_at": forecast.nadir_at.isoformat() if forecast.nadir_at else None,
    }



def _a(word: str) -> str:
    """Return the word with its indefinite article: "an intermediate", "a high"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"



def _day(moment: datetime, facts: CycleFacts) -> str:
    return moment.astimezone(facts.clinic_tz).strftime("%a %d %b")



def _when(moment: datetime, facts: CycleFacts) -> str:
    return moment.astimezone(facts.clinic_tz).strftime("%a %d %b %H:%M")


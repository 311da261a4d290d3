"""Alert rules on plain data: which conditions hold for one cycle at one moment.

No Django, no ORM, no clock: `monitoring.alerting` gathers the facts of a cycle into a
`CycleFacts` and stores what `evaluate` finds. Each finding is a condition that holds *now*;
the alert service raises an alert for a new condition, keeps the open one while it lasts
and resolves it when the finding is gone. Thresholds come from `monitoring.clinical`
(with their sources) and from the clinic's settings (`settings.NEUTROWATCH`, passed in
as `Thresholds`).

Rules (issue 4), severities in brackets:
1. Grade 4 observed, ANC < 0.5 [critical]; grade 3 observed, 0.5 <= ANC < 1.0 [high].
   CTCAE v5.0, on the latest count of the cycle (so a recovering count resolves it).
2. Grade 4 predicted: forecast P(grade 4) >= threshold (default 0.5) before any count of the
   cycle is below 0.5 [high].
3. Febrile neutropenia suspected [critical]: IDSA 2010 fever (one reading >= 38.3 C, or
   >= 38.0 C sustained over 1 h) in the last 24 h, while the last ANC < 1.0 (NCCN) or the
   forecast falls below 0.5 within 48 h of the fever (IDSA 2010 "expected to fall").
   The forecast criterion uses the LOWER 80 % bound (10th centile) of the trajectory, not the
   median: a missed FN is a death risk and a needless FN work-up is not, so a 1-in-10 chance
   of ANC < 0.5 within 48 h is enough to call the fever neutropenic.
4. Not ready for the next cycle [medium]: the latest pre-dose count (72 h before the next
   day 1) is below the regimen's threshold, or, without one, forecast P(ANC >= threshold on
   the next day 1) < 0.5. A pre-dose count at or above the threshold wins over the forecast.
5. Nadir window unmonitored [low]: intermediate or high FN-risk regimen, the predicted nadir
   window is under way and no count has been taken in it.
6. G-CSF indicated but not given [medium]: high FN-risk regimen, or intermediate with patient
   risk factors (ASCO 2015 / NCCN / EORTC 2010), and no G-CSF recorded by the end of day 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal

from monitoring import clinical

# Kinds and severities, the same values as monitoring.models.Alert.Kind / Alert.Severity.
GRADE4_OBSERVED = "grade4_observed"
GRADE3_OBSERVED = "grade3_observed"
GRADE4_PREDICTED = "grade4_predicted"
FEBRILE_NEUTROPENIA = "febrile_neutropenia"
NOT_READY = "not_ready"
NADIR_UNMONITORED = "nadir_unmonitored"
GCSF_NOT_GIVEN = "gcsf_not_given"
ALL_KINDS = (
    GRADE4_OBSERVED, GRADE3_OBSERVED, GRADE4_PREDICTED, FEBRILE_NEUTROPENIA,
    NOT_READY, NADIR_UNMONITORED, GCSF_NOT_GIVEN,
)
LOW, MEDIUM, HIGH, CRITICAL = 1, 2, 3, 4

FN_RISK_HIGH = "high"
FN_RISK_INTERMEDIATE = "intermediate"
# Half the forecast engine's 12-hour trajectory step: a point this far before the fever still
# describes the ANC at the fever.
TRAJECTORY_SLACK = timedelta(hours=12)


@dataclass(frozen=True)
class Thresholds:
    """The clinic-configurable thresholds (settings.NEUTROWATCH)."""

    grade4_predicted_probability: float = 0.5
    not_ready_probability: float = 0.5


@dataclass(frozen=True)
class CountPoint:
    collected_at: datetime
    anc_1e9_per_l: Decimal
    count_id: int | None = None


@dataclass(frozen=True)
class TrajectoryPoint:
    """One point of the forecast trajectory, ANC in 10^9/L (median and 80 % band)."""

    time: datetime
    anc: float
    lo80: float
    hi80: float


@dataclass(frozen=True)
class ForecastFacts:
    nadir_anc_1e9_per_l: float | None
    nadir_lo80: float | None
    nadir_hi80: float | None
    nadir_at: datetime | None
    p_grade4: float | None
    p_ready: float | None
    trajectory: tuple[TrajectoryPoint, ...] = ()
    next_fbc_on: date | None = None   # the day one more count would tell most (forecast.next_count)


@dataclass(frozen=True)
class CycleFacts:
    """Everything the rules need to know about one cycle at `now`, in canonical units."""

    now: datetime
    clinic_tz: tzinfo
    cycle_number: int
    day1: datetime
    chemo_given: bool
    cycle_over: bool
    next_day1: datetime | None  # None: no next cycle in the course
    fn_risk: str
    nadir_window_days: tuple[int, int]
    next_cycle_anc_1e9_per_l: Decimal
    gcsf_risk_factors: tuple[str, ...] = ()
    counts: tuple[CountPoint, ...] = ()  # from PRE_DOSE_COUNT_WINDOW before day 1 up to now
    temperatures: tuple[clinical.TemperaturePoint, ...] = ()  # the last FN_FEVER_LOOKBACK
    gcsf_given_at: tuple[datetime, ...] = ()  # from GCSF_COUNTS_FROM_BEFORE_DAY1 before day 1
    forecast: ForecastFacts | None = None


@dataclass(frozen=True)
class Finding:
    """A condition that holds now: what an alert says and the evidence behind it."""

    kind: str
    severity: int
    message: str
    evidence: dict = field(default_factory=dict)


def evaluate(facts: CycleFacts, thresholds: Thresholds) -> list[Finding]:
    """Return the conditions that hold for the cycle now, most severe first."""
    if facts.cycle_over or facts.day1 > facts.now:
        return []  # a finished or not yet started cycle raises nothing; its alerts resolve
    rules = (observed_grade, grade4_predicted, febrile_neutropenia, not_ready, nadir_unmonitored, gcsf_not_given)
    findings = [finding for rule in rules if (finding := rule(facts, thresholds)) is not None]
    return sorted(findings, key=lambda f: -f.severity)


# --- Rules --------------------------------------------------------------------------------


def observed_grade(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 1: grade 4 or grade 3 on the latest count of the cycle (CTCAE v5.0)."""
    in_cycle = _cycle_counts(facts)
    if not in_cycle:
        return None
    latest = in_cycle[-1]
    grade = clinical.ctcae_grade(latest.anc_1e9_per_l)
    if grade < 3:
        return None
    when = _when(latest.collected_at, facts)
    evidence = {"count_id": latest.count_id, "anc_1e9_per_l": str(latest.anc_1e9_per_l),
                "collected_at": latest.collected_at.isoformat(), "ctcae_grade": grade}
    if grade == 4:
        message = (f"ANC {latest.anc_1e9_per_l} x10^9/L on {when}: grade 4 neutropenia (CTCAE v5.0). "
                   "Check for fever and signs of infection; remind the patient to call at 38.0 °C.")
        return Finding(GRADE4_OBSERVED, CRITICAL, message, evidence)
    message = (f"ANC {latest.anc_1e9_per_l} x10^9/L on {when}: grade 3 neutropenia (CTCAE v5.0). "
               "Review the patient and plan a repeat count.")
    return Finding(GRADE3_OBSERVED, HIGH, message, evidence)


def grade4_predicted(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 2: the forecast puts P(grade 4) at or over the threshold before it is observed."""
    forecast = facts.forecast
    if not facts.chemo_given or forecast is None or forecast.p_grade4 is None:
        return None
    if forecast.p_grade4 < thresholds.grade4_predicted_probability:
        return None
    if any(c.anc_1e9_per_l < clinical.GRADE4_BELOW for c in _cycle_counts(facts)):
        return None  # observed: rule 1 speaks now
    nadir = _nadir_words(forecast, facts)
    message = (f"Grade 4 neutropenia predicted: P = {forecast.p_grade4:.0%}{nadir}. "
               "Plan a blood count around the nadir and counsel the patient on fever.")
    evidence = {"p_grade4": round(forecast.p_grade4, 3), "threshold": thresholds.grade4_predicted_probability,
                **_nadir_evidence(forecast)}
    return Finding(GRADE4_PREDICTED, HIGH, message, evidence)


def febrile_neutropenia(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 3: IDSA 2010 fever while neutropenic, measured (NCCN < 1.0) or forecast (< 0.5 in 48 h)."""
    recent = [t for t in facts.temperatures if facts.now - clinical.FN_FEVER_LOOKBACK <= t.taken_at <= facts.now]
    fever = clinical.fever_episode(recent)
    if fever is None:
        return None
    evidence = {"temperature_c": str(fever.temperature_c), "taken_at": fever.taken_at.isoformat()}
    last = facts.counts[-1] if facts.counts else None
    if last is not None and last.anc_1e9_per_l < clinical.FN_ANC_BELOW:
        evidence.update(anc_1e9_per_l=str(last.anc_1e9_per_l), collected_at=last.collected_at.isoformat())
        reason = f"last ANC {last.anc_1e9_per_l} x10^9/L ({_when(last.collected_at, facts)})"
    else:
        low = _forecast_low_within(facts, fever.taken_at, clinical.FN_PREDICTION_HORIZON)
        if low is None:
            return None
        evidence.update(predicted_lo80_1e9_per_l=round(low.lo80, 3), predicted_at=low.time.isoformat())
        reason = f"ANC forecast to fall below {clinical.FN_PREDICTED_ANC_BELOW} x10^9/L within 48 h"
    minutes = int(clinical.FN_ANTIBIOTICS_WITHIN.total_seconds() // 60)
    message = (f"Febrile neutropenia suspected: {fever.temperature_c} °C at {_when(fever.taken_at, facts)} "
               f"with {reason}. Start the febrile-neutropenia pathway now: assess, take blood cultures and "
               f"give empirical antibiotics within {minutes} minutes (IDSA 2010, ASCO/IDSA 2018).")
    return Finding(FEBRILE_NEUTROPENIA, CRITICAL, message, evidence)


def not_ready(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 4: a low pre-dose count, or (without one) P(ready on the next day 1) below 0.5."""
    if facts.next_day1 is None or not facts.chemo_given:
        return None
    threshold = facts.next_cycle_anc_1e9_per_l
    pre_dose = [c for c in _cycle_counts(facts) if c.collected_at >= facts.next_day1 - clinical.PRE_DOSE_COUNT_WINDOW]
    next_day = _day(facts.next_day1, facts)
    recovery = _recovery_words(facts, float(threshold))
    evidence = {"next_day1": facts.next_day1.isoformat(), "threshold_1e9_per_l": str(threshold)}
    if pre_dose:
        latest = pre_dose[-1]
        if latest.anc_1e9_per_l >= threshold:
            return None
        evidence.update(count_id=latest.count_id, anc_1e9_per_l=str(latest.anc_1e9_per_l),
                        collected_at=latest.collected_at.isoformat())
        message = (f"Not ready for cycle {facts.cycle_number + 1} on {next_day}: pre-dose ANC "
                   f"{latest.anc_1e9_per_l} x10^9/L is below {threshold}.{recovery} "
                   "Discuss a delay or dose reduction with the oncologist.")
        return Finding(NOT_READY, MEDIUM, message, evidence)
    forecast = facts.forecast
    if forecast is None or forecast.p_ready is None or forecast.p_ready >= thresholds.not_ready_probability:
        return None
    evidence.update(p_ready=round(forecast.p_ready, 3))
    message = (f"Predicted not ready for cycle {facts.cycle_number + 1} on {next_day}: P(ANC >= {threshold}) "
               f"= {forecast.p_ready:.0%}.{recovery} Plan a pre-dose count.")
    return Finding(NOT_READY, MEDIUM, message, evidence)


def nadir_unmonitored(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 5: intermediate/high FN risk, nadir window under way, no count taken in it."""
    if facts.fn_risk not in (FN_RISK_HIGH, FN_RISK_INTERMEDIATE) or not facts.chemo_given:
        return None
    start, end = nadir_window(facts)
    if not start <= facts.now <= end:
        return None
    if any(start <= c.collected_at <= facts.now for c in facts.counts):
        return None
    message = (f"The nadir window ({_day(start, facts)} to {_day(end, facts)}) is under way and no blood count "
               f"has been taken in it. Consider a count: this is a {facts.fn_risk} FN-risk regimen.")
    if facts.forecast and facts.forecast.next_fbc_on:
        suggested = max(facts.forecast.next_fbc_on, facts.now.astimezone(facts.clinic_tz).date())
        message += f" Most informative day for it: {suggested:%a %d %b}."
    return Finding(NADIR_UNMONITORED, LOW, message, {"window_start": start.isoformat(), "window_end": end.isoformat()})


def gcsf_not_given(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 6: G-CSF primary prophylaxis indicated and none recorded by the end of day 3."""
    if not facts.chemo_given:
        return None
    high = facts.fn_risk == FN_RISK_HIGH
    if not (high or (facts.fn_risk == FN_RISK_INTERMEDIATE and facts.gcsf_risk_factors)):
        return None
    due = facts.day1 + timedelta(days=clinical.GCSF_EXPECTED_BY_CYCLE_DAY)  # end of day 3
    if facts.now < due:
        return None
    if any(t >= facts.day1 - clinical.GCSF_COUNTS_FROM_BEFORE_DAY1 for t in facts.gcsf_given_at):
        return None
    why = "a high FN-risk regimen" if high else (
        "an intermediate FN-risk regimen with " + ", ".join(facts.gcsf_risk_factors))
    message = (f"G-CSF primary prophylaxis is indicated ({why}) and none is recorded by day "
               f"{clinical.GCSF_EXPECTED_BY_CYCLE_DAY} of cycle {facts.cycle_number}. Check whether it was "
               "given elsewhere, or discuss it with the oncologist.")
    evidence = {"fn_risk": facts.fn_risk, "risk_factors": list(facts.gcsf_risk_factors), "due_by": due.isoformat()}
    return Finding(GCSF_NOT_GIVEN, MEDIUM, message, evidence)


# --- Helpers ------------------------------------------------------------------------------


def nadir_window(facts: CycleFacts) -> tuple[datetime, datetime]:
    """Return the predicted nadir window: forecast nadir +/- 2 days, else the regimen's days."""
    forecast = facts.forecast
    if forecast is not None and forecast.nadir_at is not None:
        half = clinical.NADIR_WINDOW_HALF_WIDTH
        return forecast.nadir_at - half, forecast.nadir_at + half
    first, last = facts.nadir_window_days
    # Day N of the cycle starts N - 1 days after the day-1 dose; the window ends with its last day.
    return facts.day1 + timedelta(days=first - 1), facts.day1 + timedelta(days=last)


def _cycle_counts(facts: CycleFacts) -> list[CountPoint]:
    return [c for c in facts.counts if facts.day1 <= c.collected_at <= facts.now]


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


def _nadir_words(forecast: ForecastFacts, facts: CycleFacts) -> str:
    if forecast.nadir_anc_1e9_per_l is None:
        return ""
    words = f", nadir about {forecast.nadir_anc_1e9_per_l:.2f} x10^9/L"
    if forecast.nadir_lo80 is not None and forecast.nadir_hi80 is not None:
        words += f" (80 % interval {forecast.nadir_lo80:.2f}-{forecast.nadir_hi80:.2f})"
    if forecast.nadir_at is not None:
        words += f" around {_day(forecast.nadir_at, facts)}"
    return words


def _nadir_evidence(forecast: ForecastFacts) -> dict:
    return {
        "nadir_anc_1e9_per_l": forecast.nadir_anc_1e9_per_l,
        "nadir_interval80": [forecast.nadir_lo80, forecast.nadir_hi80],
        "nadir_at": forecast.nadir_at.isoformat() if forecast.nadir_at else None,
    }


def _day(moment: datetime, facts: CycleFacts) -> str:
    return moment.astimezone(facts.clinic_tz).strftime("%a %d %b")


def _when(moment: datetime, facts: CycleFacts) -> str:
    return moment.astimezone(facts.clinic_tz).strftime("%a %d %b %H:%M")

"""Alert rules on plain data: which conditions hold for one cycle at one moment.

No Django, no ORM, no clock: `monitoring.alerting` gathers the facts of a cycle into a
`CycleFacts` and stores what `evaluate` finds. Each finding is a condition that holds *now*;
the alert service raises an alert for a new condition, keeps the open one while it lasts
and resolves it when the finding is gone. Thresholds come from `monitoring.clinical`
(with their sources) and from the clinic's settings (`settings.NEUTROWATCH`, passed in
as `Thresholds`).

Two callers, one rule set: the save path runs the OBSERVED rules (measured counts and
temperatures, G-CSF timing) inside the saving transaction, so what has happened reaches a
nurse with or without the worker; the worker runs every rule after each forecast.

Rules (issues 4 and 11), severities in brackets:
1. Grade 4 observed, ANC < 0.5 [critical]; grade 3 observed, 0.5 <= ANC < 1.0 [high].
   CTCAE v5.0, on the WORST count of the cycle so far (in any arrival order). A count in the
   72 h before day 1 is the pre-dose count of that cycle and is graded in it. The condition
   clears when the patient's latest count is back at or above the grade's bound; a critical
   alert then says so but stays open until acknowledged (monitoring.alerting).
2. Grade 4 predicted: forecast P(grade 4) >= threshold (default 0.5) before any count of the
   cycle is below 0.5 [high].
3. Febrile neutropenia suspected [critical]: fever (FEVER_POLICY: IDSA 2010 by default, or NICE
   CG151) in the last 24 h, while the last ANC < 1.0 (NCCN) or the forecast falls below 0.5
   within 48 h of the fever (IDSA 2010 "expected to fall").
   The forecast criterion uses the LOWER 80 % bound (10th centile) of the trajectory, not the
   median: a missed FN is a death risk and a needless FN work-up is not, so a 1-in-10 chance
   of ANC < 0.5 within 48 h is enough to call the fever neutropenic.
3b. Fever with unknown neutrophil status [critical]: fever on chemotherapy and no count in the
   last 24 h (a forecast is not a count): treat as possible neutropenic sepsis (NICE CG151).
   Without an active cycle, "on chemotherapy" is a dose in the last 30 days (NICE sepsis 1.1.9).
   With a count of 1.0 or more in the last 24 h the same alert is high: assess for infection.
3c. Fever re-check [medium]: one reading of 38.0 C or more that is not yet a fever under the
   policy (IDSA: 38.0-38.2 C once): re-check within 1 h; a re-check >= 38.0 C makes it a fever.
4. Not ready for the next cycle [medium]: the latest pre-dose count (72 h before the next
   day 1) is below the regimen's threshold, or, without one, forecast P(ANC >= threshold on
   the next day 1) < 0.5. A pre-dose count at or above the threshold wins over the forecast.
5. Nadir window unmonitored [low]: intermediate or high FN-risk regimen, the predicted nadir
   window is under way and no count has been taken in it.
6. G-CSF indicated but not given [medium]: from 24 h after the END of the last chemotherapy dose
   of the cycle (after its continuous infusion, e.g. a 46-h 5-FU pump), with no G-CSF recorded:
   high FN-risk regimen (primary prophylaxis), intermediate with patient risk factors
   ("consider", NCCN), or any regimen after an FN episode (secondary prophylaxis, ASCO 2015).
7. G-CSF timing [medium]: a pegfilgrastim dose from 14 days before to 24 h after chemotherapy,
   or a filgrastim dose from 24 h before to 24 h after it (product labels). In a regimen given
   every 2 weeks, pegfilgrastim from 12 days before (NCCN: day-2 pegfilgrastim is accepted there).
   "Before" counts from the start of chemotherapy, "after" from its end: a dose while a continuous
   infusion still runs (FOLFOX's 46-h 5-FU pump) is flagged (clinical.chemo_end).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal

from monitoring import clinical
from monitoring.cycle_calendar import cycle_day_bounds

# Kinds and severities, the same values as monitoring.models.Alert.Kind / Alert.Severity.
GRADE4_OBSERVED = "grade4_observed"
GRADE3_OBSERVED = "grade3_observed"
GRADE4_PREDICTED = "grade4_predicted"
FEBRILE_NEUTROPENIA = "febrile_neutropenia"
NOT_READY = "not_ready"
NADIR_UNMONITORED = "nadir_unmonitored"
GCSF_NOT_GIVEN = "gcsf_not_given"
FEVER_UNKNOWN_ANC = "fever_unknown_anc"
FEVER_RECHECK = "fever_recheck"
GCSF_TIMING = "gcsf_timing"
# Raised and resolved only where the exceptions queue changes (alerting.evaluate_held), never by
# the cycle and patient rules below: it is not in ALL_KINDS nor OBSERVED_KINDS.
HELD_RESULT = "held_result"
ALL_KINDS = (
    GRADE4_OBSERVED, GRADE3_OBSERVED, GRADE4_PREDICTED, FEBRILE_NEUTROPENIA,
    NOT_READY, NADIR_UNMONITORED, GCSF_NOT_GIVEN, FEVER_UNKNOWN_ANC, FEVER_RECHECK, GCSF_TIMING,
)
# The kinds the save path evaluates (and may raise or clear) inside the saving transaction.
OBSERVED_KINDS = frozenset({GRADE4_OBSERVED, GRADE3_OBSERVED, FEBRILE_NEUTROPENIA, FEVER_UNKNOWN_ANC,
                            FEVER_RECHECK, GCSF_TIMING})
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
    fever_policy: str = clinical.FEVER_POLICY_IDSA


@dataclass(frozen=True)
class CountPoint:
    collected_at: datetime
    anc_1e9_per_l: Decimal
    count_id: int | None = None


@dataclass(frozen=True)
class GcsfPoint:
    given_at: datetime
    product: str  # clinical.FILGRASTIM, PEGFILGRASTIM or LIPEGFILGRASTIM
    dose_id: int | None = None


@dataclass(frozen=True)
class ChemoPoint:
    """A chemotherapy dose: its recorded (start) time and its regimen's continuous infusion after it."""

    given_at: datetime
    infusion_hours: int = 0  # Regimen.infusion_hours: 46 for a 5-FU pump

    @property
    def ends_at(self) -> datetime:
        """Return when this dose's chemotherapy ends (clinical.chemo_end)."""
        return clinical.chemo_end(self.given_at, self.infusion_hours)


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
    """Everything the rules need to know about one cycle at `now`, in canonical units.

    A patient without an active cycle is described with `day1=None` (and `on_chemotherapy`
    False): only the observed rules apply to them.
    """

    now: datetime
    clinic_tz: tzinfo
    cycle_number: int
    day1: datetime | None
    chemo_given: bool
    cycle_over: bool
    next_day1: datetime | None  # None: no next cycle in the course
    fn_risk: str
    nadir_window_days: tuple[int, int]
    next_cycle_anc_1e9_per_l: Decimal
    gcsf_risk_factors: tuple[str, ...] = ()
    # From PRE_DOSE_COUNT_WINDOW before day 1 (or KNOWN_ANC_WITHIN before now, if earlier) up to now;
    # without a cycle, the last NO_CYCLE_COUNT_LOOKBACK.
    counts: tuple[CountPoint, ...] = ()
    temperatures: tuple[clinical.TemperaturePoint, ...] = ()  # the last FN_FEVER_LOOKBACK
    gcsf_given_at: tuple[datetime, ...] = ()  # from GCSF_COUNTS_FROM_BEFORE_DAY1 before day 1
    forecast: ForecastFacts | None = None
    # The patient's current cycle: the patient-level rules (fever, G-CSF timing) run in it only.
    is_current: bool = True
    on_chemotherapy: bool = True
    chemo_given_at: tuple[ChemoPoint, ...] = ()  # this cycle's chemotherapy doses
    chemo_times: tuple[ChemoPoint, ...] = ()  # the patient's chemotherapy doses of the last weeks
    gcsf_doses: tuple[GcsfPoint, ...] = ()  # the patient's G-CSF doses of GCSF_TIMING_LOOKBACK
    prior_febrile_neutropenia: bool = False  # recorded risk factor or an FN alert in an earlier cycle
    chemo_interval_days: int | None = None  # the regimen's shortest interval between chemo days


@dataclass(frozen=True)
class Finding:
    """A condition that holds now: what an alert says and the evidence behind it."""

    kind: str
    severity: int
    message: str
    evidence: dict = field(default_factory=dict)
    # Set when the condition held and has since cleared (e.g. the count recovered): a critical
    # alert is still raised for it and stays open until a person acknowledges it.
    cleared_at: datetime | None = None


def evaluate(facts: CycleFacts, thresholds: Thresholds, *, observed_only: bool = False) -> list[Finding]:
    """Return the conditions that hold for the cycle now, most severe first.

    `observed_only`: the save path's subset (OBSERVED_KINDS), which needs no forecast. A cycle
    that is over is still graded (a late count is alerted whichever cycle it falls in), but only
    a critical finding is raised there. Patient-level rules run in the current cycle only, so a
    fever raises one alert, not one per cycle.
    """
    started = facts.day1 is not None and facts.day1 <= facts.now
    if facts.cycle_over:
        graded = observed_grade(facts, thresholds)
        return [graded] if graded is not None and graded.severity == CRITICAL else []
    rules = [observed_grade]
    if facts.is_current:
        rules += [febrile_neutropenia, fever_unknown_anc, fever_recheck, gcsf_timing]
    if started and not observed_only:
        rules += [grade4_predicted, not_ready, nadir_unmonitored, gcsf_not_given]
    findings = [finding for rule in rules if (finding := rule(facts, thresholds)) is not None]
    return sorted(findings, key=lambda f: -f.severity)


# --- Rules --------------------------------------------------------------------------------


def observed_grade(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 1: grade 4 or grade 3 on the worst count of the cycle so far (CTCAE v5.0)."""
    graded = graded_counts(facts)
    if not graded:
        return None
    worst = min(graded, key=lambda c: (c.anc_1e9_per_l, c.collected_at))
    grade = clinical.ctcae_grade(worst.anc_1e9_per_l)
    if grade < 3:
        return None
    bound = clinical.GRADE4_BELOW if grade == 4 else clinical.GRADE3_BELOW
    cleared_at = _recovered_at(facts, bound)
    when = _when(worst.collected_at, facts)
    evidence = {"count_id": worst.count_id, "anc_1e9_per_l": str(worst.anc_1e9_per_l),
                "collected_at": worst.collected_at.isoformat(), "ctcae_grade": grade}
    if grade == 4:
        message = (f"ANC {worst.anc_1e9_per_l} x10^9/L on {when}: grade 4 neutropenia (CTCAE v5.0). "
                   "Check for fever and signs of infection; remind the patient to call at 38.0 °C.")
        return Finding(GRADE4_OBSERVED, CRITICAL, message, evidence, cleared_at)
    message = (f"ANC {worst.anc_1e9_per_l} x10^9/L on {when}: grade 3 neutropenia (CTCAE v5.0). "
               "Review the patient and plan a repeat count.")
    return Finding(GRADE3_OBSERVED, HIGH, message, evidence, cleared_at)


def graded_counts(facts: CycleFacts) -> list[CountPoint]:
    """Return the counts graded in this cycle: from 72 h before its day 1 to 72 h before the next.

    A count in the 72 h before a day 1 is that cycle's pre-dose count, so it belongs to the
    coming cycle, whether or not the chemotherapy has been given yet.
    """
    counts = [c for c in facts.counts if c.collected_at <= facts.now]
    if facts.day1 is None:
        return counts
    start = facts.day1 - clinical.PRE_DOSE_COUNT_WINDOW
    end = facts.next_day1 - clinical.PRE_DOSE_COUNT_WINDOW if facts.next_day1 is not None else None
    return [c for c in counts if c.collected_at >= start and (end is None or c.collected_at < end)]


def _recovered_at(facts: CycleFacts, bound: Decimal) -> datetime | None:
    """Return when the patient's counts came back to `bound` or above for good, or None.

    That is the first count of the final run of counts at or above the bound, up to now.
    """
    counts = sorted((c for c in facts.counts if c.collected_at <= facts.now), key=lambda c: c.collected_at)
    recovered = None
    for count in counts:
        if count.anc_1e9_per_l < bound:
            recovered = None
        elif recovered is None:
            recovered = count.collected_at
    return recovered


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
    fever = _fever(facts, thresholds)
    if fever is None:
        return None
    evidence = {"temperature_c": str(fever.temperature_c), "taken_at": fever.taken_at.isoformat()}
    last = _latest_count(facts)
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
    evidence["fever_policy"] = thresholds.fever_policy
    message = (f"Febrile neutropenia suspected: {fever.temperature_c} °C at {_when(fever.taken_at, facts)} "
               f"with {reason}. Start the febrile-neutropenia pathway now: assess, take blood cultures and "
               f"give empirical antibiotics within {minutes} minutes (IDSA 2010, ASCO/IDSA 2018).")
    return Finding(FEBRILE_NEUTROPENIA, CRITICAL, message, evidence)


def fever_unknown_anc(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 3b: fever on chemotherapy without a count in the last 24 h (NICE CG151) [critical]."""
    if not facts.on_chemotherapy:
        return None
    fever = _fever(facts, thresholds)
    if fever is None or febrile_neutropenia(facts, thresholds) is not None:
        return None  # no fever, or rule 3 already says febrile neutropenia
    evidence = {"temperature_c": str(fever.temperature_c), "taken_at": fever.taken_at.isoformat(),
                "fever_policy": thresholds.fever_policy}
    recent = [c for c in facts.counts if facts.now - clinical.KNOWN_ANC_WITHIN <= c.collected_at <= facts.now]
    at = _when(fever.taken_at, facts)
    if not recent:
        message = (f"Fever {fever.temperature_c} °C at {at} and no blood count in the last 24 h: fever in a "
                   "patient on chemotherapy: treat as possible neutropenic sepsis, urgent FBC and assessment "
                   "(NICE CG151). Do not wait for the count to give antibiotics if the patient is unwell.")
        return Finding(FEVER_UNKNOWN_ANC, CRITICAL, message, evidence)
    last = recent[-1]
    evidence.update(anc_1e9_per_l=str(last.anc_1e9_per_l), collected_at=last.collected_at.isoformat())
    message = (f"Fever {fever.temperature_c} °C at {at} in a patient on chemotherapy; ANC {last.anc_1e9_per_l} "
               f"x10^9/L on {_when(last.collected_at, facts)}. Assess for infection and repeat the FBC "
               "(NICE CG151).")
    return Finding(FEVER_UNKNOWN_ANC, HIGH, message, evidence)


def fever_recheck(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 3c: a raised reading that is not yet a fever: re-check within 1 hour [medium]."""
    recent = _recent_temperatures(facts)
    reading = clinical.fever_needs_recheck(recent, thresholds.fever_policy)
    if reading is None or facts.now - reading.taken_at > clinical.FN_FEVER_LOOKBACK:
        return None
    minutes = int(clinical.FEVER_RECHECK_WITHIN.total_seconds() // 60)
    message = (f"Temperature {reading.temperature_c} °C at {_when(reading.taken_at, facts)}: re-check within "
               f"{minutes} minutes. If the re-check is {clinical.FEVER_SUSTAINED_C} °C or more, it is a fever "
               "(IDSA 2010) and the febrile-neutropenia pathway starts.")
    evidence = {"temperature_c": str(reading.temperature_c), "taken_at": reading.taken_at.isoformat(),
                "recheck_by": (reading.taken_at + clinical.FEVER_RECHECK_WITHIN).isoformat()}
    return Finding(FEVER_RECHECK, MEDIUM, message, evidence)


def gcsf_timing(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 7: a G-CSF dose inside the window its label excludes around chemotherapy [medium]."""
    for dose in sorted(facts.gcsf_doses, key=lambda d: d.given_at, reverse=True):
        if facts.now - dose.given_at > clinical.GCSF_TIMING_LOOKBACK:
            continue
        long_acting = clinical.is_long_acting(dose.product)
        after = clinical.PEGFILGRASTIM_NOT_AFTER_CHEMO if long_acting else clinical.FILGRASTIM_NOT_AFTER_CHEMO
        for chemo in facts.chemo_times:
            before = (clinical.pegfilgrastim_not_before_chemo(facts.chemo_interval_days, chemo.infusion_hours)
                      if long_acting else clinical.FILGRASTIM_NOT_BEFORE_CHEMO)
            # "Before" from the start, "after" from the end of the infusion; "at least N days before" includes N.
            if chemo.given_at - before < dose.given_at < chemo.ends_at + after:
                return _gcsf_timing_finding(facts, dose, chemo, long_acting, before)
    return None


def _gcsf_timing_finding(facts: CycleFacts, dose: GcsfPoint, chemo: ChemoPoint, long_acting: bool,
                         before: timedelta) -> Finding:
    ends = " ends" if chemo.infusion_hours else ""  # the labels' "after chemotherapy": after it ends
    if not long_acting:
        rule = f"the label says filgrastim starts 24-72 h after cytotoxic chemotherapy{ends}, not in the 24 h before it"
    elif before == clinical.PEGFILGRASTIM_NOT_BEFORE_CHEMO:
        rule = ("the label says pegfilgrastim is not given from 14 days before to 24 h after cytotoxic "
                f"chemotherapy{ends}")
    elif before == clinical.PEGFILGRASTIM_NOT_BEFORE_CHEMO_EVERY_2_WEEKS:
        rule = (f"in a regimen given every 2 weeks, pegfilgrastim is given from 24 h after chemotherapy{ends} and at "
                f"least {before.days} days before the next (NCCN)")
    else:
        rule = (f"in a regimen given every 2 weeks with a {chemo.infusion_hours}-hour infusion, pegfilgrastim is "
                "given from 24 h after the infusion ends (the label; usually the day after the pump is "
                f"disconnected) and at least {before.days} days before the next cycle")
    message = (f"{dose.product.capitalize()} given {_when(dose.given_at, facts)}, {_relation(dose, chemo, facts)}: "
               f"{rule}. Check the timing with the oncologist.")
    evidence = {"dose_id": dose.dose_id, "given_at": dose.given_at.isoformat(),
                "chemo_at": chemo.given_at.isoformat(), "product": dose.product,
                "chemo_ends_at": chemo.ends_at.isoformat()}
    return Finding(GCSF_TIMING, MEDIUM, message, evidence)


def _relation(dose: GcsfPoint, chemo: ChemoPoint, facts: CycleFacts) -> str:
    """Return where the dose falls against the chemotherapy, in words: "30 h after the start of ..."."""
    hours = (dose.given_at - chemo.given_at).total_seconds() / 3600
    if hours < 0:
        return f"{-hours / 24:.1f} days before chemotherapy ({_when(chemo.given_at, facts)})"
    if not chemo.infusion_hours:
        return f"{hours:.0f} h after chemotherapy ({_when(chemo.given_at, facts)})"
    infusion, ends = f"the {chemo.infusion_hours}-hour continuous infusion", _when(chemo.ends_at, facts)
    if dose.given_at < chemo.ends_at:
        state = f"while {infusion} was still running (ends {ends})"
    else:
        state = f"{(dose.given_at - chemo.ends_at).total_seconds() / 3600:.0f} h after {infusion} ended ({ends})"
    return f"{hours:.0f} h after the start of chemotherapy ({_when(chemo.given_at, facts)}), {state}"


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
               f"has been taken in it. Consider a count: this is {_a(facts.fn_risk)} FN-risk regimen.")
    if facts.forecast and facts.forecast.next_fbc_on:
        suggested = max(facts.forecast.next_fbc_on, facts.now.astimezone(facts.clinic_tz).date())
        message += f" Most informative day for it: {suggested:%a %d %b}."
    return Finding(NADIR_UNMONITORED, LOW, message, {"window_start": start.isoformat(), "window_end": end.isoformat()})


def gcsf_not_given(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 6: G-CSF prophylaxis indicated and none recorded from 24 h after the last chemo dose ends."""
    if not facts.chemo_given:
        return None
    why, verb = _gcsf_indication(facts)
    if why is None:
        return None
    last_dose = max(facts.chemo_given_at, key=lambda c: c.ends_at, default=ChemoPoint(facts.day1))
    due = last_dose.ends_at + clinical.GCSF_DUE_AFTER_CHEMO
    if facts.now < due:
        return None
    if any(t >= facts.day1 - clinical.GCSF_COUNTS_FROM_BEFORE_DAY1 for t in facts.gcsf_given_at):
        return None
    after = f"the last chemotherapy dose ({_when(last_dose.given_at, facts)})"
    if last_dose.infusion_hours:
        after = (f"the end of the last chemotherapy dose's {last_dose.infusion_hours}-hour infusion "
                 f"({_when(last_dose.ends_at, facts)})")
    message = (f"{verb} ({why}) and none is recorded in cycle {facts.cycle_number}, 24 h after {after}. "
               "Check whether it was given elsewhere, or discuss it with the oncologist.")
    evidence = {"fn_risk": facts.fn_risk, "risk_factors": list(facts.gcsf_risk_factors), "due_by": due.isoformat(),
                "secondary": facts.prior_febrile_neutropenia}
    return Finding(GCSF_NOT_GIVEN, MEDIUM, message, evidence)


def _gcsf_indication(facts: CycleFacts) -> tuple[str | None, str]:
    """Return (why, what to do) for G-CSF prophylaxis in this cycle, or (None, '')."""
    if facts.prior_febrile_neutropenia:
        return ("febrile neutropenia in an earlier cycle",
                "G-CSF secondary prophylaxis is recommended (ASCO 2015)")
    if facts.fn_risk == FN_RISK_HIGH:
        return "a high FN-risk regimen", "G-CSF primary prophylaxis is indicated (ASCO 2015, NCCN)"
    if facts.fn_risk == FN_RISK_INTERMEDIATE and facts.gcsf_risk_factors:
        return ("an intermediate FN-risk regimen with " + ", ".join(facts.gcsf_risk_factors),
                "Consider G-CSF primary prophylaxis (NCCN)")
    return None, ""


# --- Helpers ------------------------------------------------------------------------------


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
    return max(counts, key=lambda c: c.collected_at) if counts else None


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


def _a(word: str) -> str:
    """Return the word with its indefinite article: "an intermediate", "a high"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _day(moment: datetime, facts: CycleFacts) -> str:
    return moment.astimezone(facts.clinic_tz).strftime("%a %d %b")


def _when(moment: datetime, facts: CycleFacts) -> str:
    return moment.astimezone(facts.clinic_tz).strftime("%a %d %b %H:%M")


# --- A count kept for review (the exceptions queue), not stored -------------------------------


@dataclass(frozen=True)
class HeldCount:
    """A count of a known patient kept in the exceptions queue, graded from its values as received."""

    exception_id: int
    anc_1e9_per_l: Decimal
    collected_at: str  # as received: the time may be what kept it (e.g. the hour the clocks go back)
    problems: str


def held_result(held: list[HeldCount]) -> Finding | None:
    """Rule 8: a count of grade 3 or 4 kept for review instead of stored [high].

    A value held back (a re-sent accession with another value but no corrected status, a likely
    unit slip, an ambiguous local time) may be right: if it is, nobody would know until someone
    opened the queue. High, not critical: the value may be the mistake that held it.
    """
    severe = [h for h in held if h.anc_1e9_per_l < clinical.GRADE3_BELOW]
    if not severe:
        return None
    worst = min(severe, key=lambda h: (h.anc_1e9_per_l, h.exception_id))
    grade = clinical.ctcae_grade(worst.anc_1e9_per_l)
    others = f" ({len(severe) - 1} more held)" if len(severe) > 1 else ""
    message = (f"A count is held for review, not stored: ANC {worst.anc_1e9_per_l} x10^9/L (grade {grade} if it "
               f"is right), collected {worst.collected_at or 'at a time not read'}{others}. Held because: "
               f"{worst.problems.rstrip('.')}. Open it in the exceptions queue "
               f"(/import/exceptions/{worst.exception_id}/): store it if it is right, or dismiss it with a reason.")
    evidence = {"exception_id": worst.exception_id, "anc_1e9_per_l": str(worst.anc_1e9_per_l),
                "held": sorted(h.exception_id for h in severe)}
    return Finding(HELD_RESULT, HIGH, message, evidence)

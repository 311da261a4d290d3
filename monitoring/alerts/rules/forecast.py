"""Rules that read the forecast or the schedule: grade 4 predicted, not ready, nadir window, G-CSF not given."""

from __future__ import annotations

from datetime import datetime

from monitoring import clinical
from monitoring.alerts.rules.facts import (
    FN_RISK_HIGH,
    FN_RISK_INTERMEDIATE,
    GCSF_NOT_GIVEN,
    GRADE4_PREDICTED,
    HIGH,
    LOW,
    MEDIUM,
    NADIR_UNMONITORED,
    NOT_READY,
    ChemoPoint,
    CountPoint,
    CycleFacts,
    Finding,
    Thresholds,
)
from monitoring.alerts.rules.shared import (
    _a,
    _cycle_counts,
    _day,
    _nadir_evidence,
    _nadir_words,
    _recovery_words,
    _when,
    nadir_window,
)


def grade4_predicted(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 2: the forecast puts P(grade 4) at or over the threshold before it is observed."""
    forecast = facts.forecast
    if not facts.chemo_given or forecast is None or forecast.p_grade4 is None:
        return None
    if forecast.p_grade4 < _grade4_predicted_bar(facts, thresholds):
        return None
    counts = _cycle_counts(facts)
    if any(c.anc_1e9_per_l < clinical.GRADE4_BELOW for c in counts):
        return None  # observed: rule 1 speaks now
    evidence = {"p_grade4": round(forecast.p_grade4, 3), "threshold": thresholds.grade4_predicted_probability,
                **_nadir_evidence(forecast)}
    passed = _nadir_window_passed(facts)
    if passed is not None:
        # Never name a past day as coming (issue 21 item 3): the window is over.
        start, end = passed
        if any(start <= c.collected_at <= facts.now for c in counts):
            return None  # a count was taken in the window: it, not the forecast, tells the grade
        evidence["window_passed"] = True
        message = (f"Nadir window passed without a count ({_day(start, facts)} to {_day(end, facts)}): grade 4 "
                   f"was predicted (P = {forecast.p_grade4:.0%}). Take a blood count now and ask about fever.")
        return Finding(GRADE4_PREDICTED, HIGH, message, evidence)
    nadir = _nadir_words(forecast, facts)
    message = (f"Grade 4 neutropenia predicted: P = {forecast.p_grade4:.0%}{nadir}. "
               "Plan a blood count around the nadir and counsel the patient on fever.")
    return Finding(GRADE4_PREDICTED, HIGH, message, evidence)


def _grade4_predicted_bar(facts: CycleFacts, thresholds: Thresholds) -> float:
    """Return the P(grade 4) the alert needs now: hysteresis, so a forecast near the line does not flap.

    A live alert holds down to the clear threshold; one cleared within the re-arm time comes
    back only past the raise threshold by the margin; otherwise the raise threshold.
    """
    if GRADE4_PREDICTED in facts.live_kinds:
        return thresholds.grade4_predicted_clear_probability
    if facts.rearming(GRADE4_PREDICTED, thresholds):
        return thresholds.grade4_predicted_probability + thresholds.rearm_margin
    return thresholds.grade4_predicted_probability


def _nadir_window_passed(facts: CycleFacts) -> tuple | None:
    """Return the predicted nadir window (start, end) if it is wholly in the past, else None."""
    if facts.forecast is None or facts.forecast.nadir_at is None:
        return None
    start, end = nadir_window(facts)
    return (start, end) if end < facts.now else None



def pre_dose_counts(facts: CycleFacts) -> list[CountPoint]:
    """Return the counts of the 72 h before the next day 1, and after it while that cycle is not given."""
    if facts.next_day1 is None:
        return []
    return [c for c in _cycle_counts(facts) if c.collected_at >= facts.next_day1 - clinical.PRE_DOSE_COUNT_WINDOW]


def not_ready(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 4: a low pre-dose ANC or platelet count, or (without a pre-dose count) P(ready) below 0.5.

    The pre-dose count is the latest of the 72 h before the next planned day 1, or taken after that
    time while the next cycle is not given yet; its platelets (the latest pre-dose count that has them)
    are held to the regimen's platelet threshold (issue 21 item 7). Decided at save time as well.
    """
    if facts.next_day1 is None or not facts.chemo_given:
        return None
    threshold = facts.next_cycle_anc_1e9_per_l
    pre_dose = pre_dose_counts(facts)
    next_day = _day(facts.next_day1, facts)
    recovery = _recovery_words(facts, float(threshold))
    evidence = {"next_day1": facts.next_day1.isoformat(), "threshold_1e9_per_l": str(threshold)}
    if pre_dose:
        return _not_ready_pre_dose(facts, pre_dose, next_day, recovery, evidence)
    measured = _still_measured_low(facts, facts.live_evidence.get(NOT_READY, {}))
    if measured is not None:
        return measured  # a forecast may add to what a measurement raised, never clear it
    forecast = facts.forecast
    if forecast is None or forecast.p_ready is None or forecast.p_ready >= thresholds.not_ready_probability:
        return None
    evidence.update(p_ready=round(forecast.p_ready, 3))
    message = (f"Predicted not ready for cycle {facts.cycle_number + 1} on {next_day}: P(ANC >= {threshold}) "
               f"= {forecast.p_ready:.0%}.{recovery} Plan a pre-dose count.")
    return Finding(NOT_READY, MEDIUM, message, evidence)


def _not_ready_pre_dose(facts: CycleFacts, pre_dose: list[CountPoint], next_day: str, recovery: str,
                        evidence: dict) -> Finding | None:
    latest = pre_dose[-1]
    anc_threshold, platelet_threshold = facts.next_cycle_anc_1e9_per_l, facts.next_cycle_platelets_1e9_per_l
    with_platelets = [c for c in pre_dose if c.platelets_1e9_per_l is not None]
    platelets = with_platelets[-1] if with_platelets else None
    reasons = []
    if latest.anc_1e9_per_l < anc_threshold:
        reasons.append(f"pre-dose ANC {latest.anc_text} x10^9/L ({_when(latest.collected_at, facts)}) is below "
                       f"{anc_threshold}")
        evidence.update(count_id=latest.count_id, anc_1e9_per_l=str(latest.anc_1e9_per_l),
                        collected_at=latest.collected_at.isoformat())
    if platelets is not None and platelets.platelets_1e9_per_l < platelet_threshold:
        reasons.append(f"pre-dose platelets {platelets.platelets_1e9_per_l.normalize():f} x10^9/L "
                       f"({_when(platelets.collected_at, facts)}) are below {platelet_threshold.normalize():f}")
        evidence.update(platelets_1e9_per_l=str(platelets.platelets_1e9_per_l),
                        platelet_threshold_1e9_per_l=str(platelet_threshold),
                        platelets_collected_at=platelets.collected_at.isoformat())
        evidence.setdefault("count_id", platelets.count_id)
    if not reasons:
        return None
    message = (f"Not ready for cycle {facts.cycle_number + 1} on {next_day}: {' and '.join(reasons)}."
               f"{recovery if latest.anc_1e9_per_l < anc_threshold else ''} "
               "Discuss a delay or dose reduction with the oncologist.")
    return Finding(NOT_READY, MEDIUM, message, evidence)


def not_ready_moved(facts: CycleFacts, shown: dict) -> Finding | None:
    """Return a live "not ready" alert's condition for the next day 1 it now waits for, if that day moved.

    For a write (a delayed cycle) that moves the next day 1 of a cycle whose live "not ready" has
    no pre-dose count for the new day: the alert keeps what it stood on (the low pre-dose count,
    or the forecast's P(ready)) and names the day cycle N now waits for, at the write. A pre-dose
    count for the new day, or the recompute's forecast for it, decides afterwards, as before.
    `shown`: the live alert's latest evidence. None when the day has not moved or no longer applies.
    """
    if facts.next_day1 is None or not facts.chemo_given or facts.cycle_over:
        return None
    planned = shown.get("next_day1")
    if not planned or planned == facts.next_day1.isoformat():
        return None
    try:
        before = datetime.fromisoformat(planned)
    except ValueError:
        return None
    new_day, old_day = _day(facts.next_day1, facts), _day(before, facts)
    evidence = {**shown, "next_day1": facts.next_day1.isoformat(), "moved_from": planned}
    evidence.pop("change", None)
    evidence.pop("replaces", None)
    head = f"Not ready for cycle {facts.cycle_number + 1} on {new_day} (moved from {old_day})"
    if "p_ready" in shown:
        message = (f"Predicted {head[0].lower()}{head[1:]}: P(ANC >= {shown.get('threshold_1e9_per_l')}) was "
                   f"{float(shown['p_ready']):.0%} for {old_day}; the forecast for {new_day} follows. "
                   "Plan a pre-dose count.")
        return Finding(NOT_READY, MEDIUM, message, evidence)
    reasons = _measured_reasons(facts, shown)
    if not reasons:
        return None
    message = (f"{head}: {' and '.join(reasons)}. Take a pre-dose count in the "
               f"{int(clinical.PRE_DOSE_COUNT_WINDOW.total_seconds() // 3600)} h before {new_day}.")
    return Finding(NOT_READY, MEDIUM, message, evidence)


def _measured_reasons(facts: CycleFacts, shown: dict) -> list[str]:
    """Return the measured low values a live "not ready" stood on, in words (none if it stood on the forecast)."""
    reasons = []
    if shown.get("anc_1e9_per_l") and shown.get("collected_at"):
        count = next((c for c in facts.counts if c.count_id == shown.get("count_id")), None)
        anc = count.anc_text if count is not None else shown["anc_1e9_per_l"]
        moment = datetime.fromisoformat(shown["collected_at"])
        reasons.append(f"the last pre-dose ANC, {anc} x10^9/L ({_when(moment, facts)}), is below "
                       f"{shown.get('threshold_1e9_per_l')}")
    if shown.get("platelets_1e9_per_l") and shown.get("platelets_collected_at"):
        moment = datetime.fromisoformat(shown["platelets_collected_at"])
        reasons.append(f"the last pre-dose platelets, {shown['platelets_1e9_per_l']} x10^9/L ({_when(moment, facts)}),"
                       f" are below {shown.get('platelet_threshold_1e9_per_l')}")
    return reasons


def _still_measured_low(facts: CycleFacts, shown: dict) -> Finding | None:
    """Keep a live "not ready" that a measured low count raised until a measured count says ready (safety item 5).

    Once the next day 1 moves past the 72 h of the low pre-dose count, no count is "pre-dose" and the
    forecast would decide alone; but a forecast may add "not ready", never clear what a measurement
    raised. The ANC (platelets) reason holds until a count taken after it has the ANC (platelets) at or
    above the regimen's threshold. None when the alert stood on the forecast, or every reason is answered.
    """
    if "p_ready" in shown:
        return None
    later = [c for c in facts.counts if c.collected_at <= facts.now]
    kept = dict(shown)
    if shown.get("collected_at") and any(
            c.collected_at > datetime.fromisoformat(shown["collected_at"])
            and c.anc_1e9_per_l >= facts.next_cycle_anc_1e9_per_l for c in later):
        for key in ("anc_1e9_per_l", "collected_at"):
            kept.pop(key, None)
    if shown.get("platelets_collected_at") and any(
            c.collected_at > datetime.fromisoformat(shown["platelets_collected_at"])
            and c.platelets_1e9_per_l is not None and c.platelets_1e9_per_l >= facts.next_cycle_platelets_1e9_per_l
            for c in later):
        for key in ("platelets_1e9_per_l", "platelets_collected_at"):
            kept.pop(key, None)
    reasons = _measured_reasons(facts, kept)
    if not reasons:
        return None
    next_day = _day(facts.next_day1, facts)
    evidence = {**kept, "next_day1": facts.next_day1.isoformat(), "measured_kept": True}
    for key in ("change", "replaces", "moved_from"):
        evidence.pop(key, None)
    message = (f"Not ready for cycle {facts.cycle_number + 1} on {next_day}: {' and '.join(reasons)}, and no count "
               "since has shown otherwise (a forecast does not clear a measured count). Take a pre-dose count in "
               f"the {int(clinical.PRE_DOSE_COUNT_WINDOW.total_seconds() // 3600)} h before {next_day}.")
    return Finding(NOT_READY, MEDIUM, message, evidence)


def nadir_unmonitored(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 5: intermediate/high FN risk, nadir window under way, no count taken in it."""
    if facts.fn_risk not in (FN_RISK_HIGH, FN_RISK_INTERMEDIATE) or not facts.chemo_given:
        return None
    start, end = nadir_window(facts)
    # Hysteresis: the window moves with every forecast, so a live alert holds while `now` is in
    # the window widened by the margin, and one cleared within the re-arm time comes back only
    # well inside it (issue 21 item 10: 15 re-raises within 10 minutes of clearing).
    margin = clinical.NADIR_WINDOW_HYSTERESIS
    if NADIR_UNMONITORED in facts.live_kinds:
        start, end = start - margin, end + margin
    elif facts.rearming(NADIR_UNMONITORED, thresholds):
        if end - start <= 2 * margin:
            return None
        start, end = start + margin, end - margin
    if not start <= facts.now <= end:
        return None
    if any(start - margin <= c.collected_at <= facts.now for c in facts.counts):
        return None
    message = (f"The nadir window ({_day(start, facts)} to {_day(end, facts)}) is under way and no blood count "
               f"has been taken in it. Consider a count: this is {_a(facts.fn_risk)} FN-risk regimen.")
    if facts.forecast and facts.forecast.next_fbc_on:
        suggested = max(facts.forecast.next_fbc_on, facts.now.astimezone(facts.clinic_tz).date())
        message += f" Most informative day for it: {suggested:%a %d %b}."
    return Finding(NADIR_UNMONITORED, LOW, message, {"window_start": start.isoformat(), "window_end": end.isoformat()})



def gcsf_not_given(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 6: G-CSF prophylaxis indicated and none recorded 72 h after the last chemo dose ends.

    Due at the end of the labels' window (issue 21 item 8), and never for a course where "not
    indicated" or "declined" has been recorded with a reason.
    """
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
    if facts.gcsf_decision:
        return None  # "not indicated" or "declined", recorded for the course with a reason
    after = f"the last chemotherapy dose ({_when(last_dose.given_at, facts)})"
    if last_dose.infusion_hours:
        after = (f"the end of the last chemotherapy dose's {last_dose.infusion_hours}-hour infusion "
                 f"({_when(last_dose.ends_at, facts)})")
    hours = int(clinical.GCSF_DUE_AFTER_CHEMO.total_seconds() // 3600)
    message = (f"{verb} ({why}) and none is recorded in cycle {facts.cycle_number}, {hours} h after {after}: "
               "the end of the labels' window. Check whether it was given elsewhere, discuss it with the "
               "oncologist, or record that it is not indicated or declined (with a reason).")
    if facts.planned_gcsf:
        message += " The forecast no longer counts on the planned dose."
    evidence = {"fn_risk": facts.fn_risk, "risk_factors": list(facts.gcsf_risk_factors), "due_by": due.isoformat(),
                "secondary": facts.prior_febrile_neutropenia}
    return Finding(GCSF_NOT_GIVEN, MEDIUM, message, evidence)



def _gcsf_indication(facts: CycleFacts) -> tuple[str | None, str]:
    """Return (why, what to do) for G-CSF prophylaxis in this cycle, or (None, '')."""
    if facts.planned_gcsf:  # the oncologist's plan for this cycle, whatever the regimen's FN risk
        return f"planned for this cycle: {facts.planned_gcsf}", "G-CSF is in this cycle's plan"
    if facts.prior_febrile_neutropenia:
        return ("febrile neutropenia in an earlier cycle",
                "G-CSF secondary prophylaxis is recommended (ASCO 2015)")
    if facts.fn_risk == FN_RISK_HIGH:
        return "a high FN-risk regimen", "G-CSF primary prophylaxis is indicated (ASCO 2015, NCCN)"
    if facts.fn_risk == FN_RISK_INTERMEDIATE and facts.gcsf_risk_factors:
        return ("an intermediate FN-risk regimen with " + ", ".join(facts.gcsf_risk_factors),
                "Consider G-CSF primary prophylaxis (NCCN)")
    return None, ""


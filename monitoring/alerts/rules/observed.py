"""Rules on what has been measured: grade 3-4 counts, fever with neutropenia, fever re-checks, G-CSF timing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from monitoring import clinical
from monitoring.alerts.rules.facts import (
    CRITICAL,
    FEBRILE_NEUTROPENIA,
    FEVER_RECHECK,
    FEVER_UNKNOWN_ANC,
    GCSF_TIMING,
    GRADE3_OBSERVED,
    GRADE4_OBSERVED,
    HIGH,
    MEDIUM,
    PLATELETS_GRADE4,
    ChemoPoint,
    CountPoint,
    CycleFacts,
    Finding,
    GcsfPoint,
    Thresholds,
)
from monitoring.alerts.rules.late_fever import late_fever
from monitoring.alerts.rules.shared import (
    _as_received,
    _fever,
    _forecast_low_within,
    _latest_count,
    _recent_temperatures,
    _when,
)


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
    recovered = _recovered(facts, bound)
    cleared_at = recovered.collected_at if recovered is not None else None
    when = _when(worst.collected_at, facts)
    evidence = {"count_id": worst.count_id, "anc_1e9_per_l": str(worst.anc_1e9_per_l),
                "collected_at": worst.collected_at.isoformat(), "ctcae_grade": grade,
                **_latest_evidence(facts, worst)}
    if worst.qualifier:
        evidence["anc_as_received"] = worst.anc_text  # "<0.1": shown as the lab reported it
    if recovered is not None:
        evidence.update(recovered_anc_1e9_per_l=str(recovered.anc_1e9_per_l),
                        recovered_at=recovered.collected_at.isoformat())
    if grade == 4:
        message = (f"ANC {worst.anc_text} x10^9/L on {when}: grade 4 neutropenia (CTCAE v5.0). "
                   "Check for fever and signs of infection; remind the patient to call at 38.0 °C.")
        return Finding(GRADE4_OBSERVED, CRITICAL, message, evidence, cleared_at)
    message = (f"ANC {worst.anc_text} x10^9/L on {when}: grade 3 neutropenia (CTCAE v5.0). "
               "Review the patient and plan a repeat count.")
    return Finding(GRADE3_OBSERVED, HIGH, message, evidence, cleared_at)



def _latest_evidence(facts: CycleFacts, worst: CountPoint) -> dict:
    """Return the latest count beside the worst (issue 21: the present beside what raised it).

    Up to the next cycle's day 1 (`_recovery_counts`): the count that shows a recovery may be the
    next cycle's pre-dose count, but a fall in a later cycle is that cycle's alert, not this one's.
    """
    counts = _recovery_counts(facts)
    latest = counts[-1] if counts else None
    if latest is None or latest == worst:
        return {}
    return {"latest_anc_1e9_per_l": str(latest.anc_1e9_per_l), "latest_collected_at": latest.collected_at.isoformat(),
            **_as_received(latest, "latest_anc_as_received")}


def platelets_grade4(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 1b: CTCAE v5.0 grade 4 thrombocytopenia, platelets < 25 x10^9/L, in this cycle's counts [high].

    High, not critical: a bleeding risk to review today (transfusion per local policy), not the
    minutes-matter emergency of neutropenic fever. Clears when the latest platelets are back at 25.
    """
    with_platelets = [c for c in graded_counts(facts) if c.platelets_1e9_per_l is not None]
    if not with_platelets:
        return None
    latest = max(with_platelets, key=lambda c: (c.collected_at, c.count_id or 0))
    worst = min(with_platelets, key=lambda c: (c.platelets_1e9_per_l, c.collected_at))
    if latest.platelets_1e9_per_l >= clinical.PLATELETS_GRADE4_BELOW:
        return None  # recovered (or never grade 4): nothing to do now
    worst = latest if worst.platelets_1e9_per_l >= clinical.PLATELETS_GRADE4_BELOW else worst
    message = (f"Platelets {latest.platelets_1e9_per_l.normalize():f} x10^9/L on {_when(latest.collected_at, facts)}: "
               "grade 4 thrombocytopenia (CTCAE v5.0, < 25). Check for bleeding or bruising, review with the "
               "oncologist today (platelet transfusion per local policy) and avoid IM injections.")
    evidence = {"count_id": latest.count_id, "platelets_1e9_per_l": str(latest.platelets_1e9_per_l),
                "collected_at": latest.collected_at.isoformat(), "ctcae_grade": 4}
    return Finding(PLATELETS_GRADE4, HIGH, message, evidence)


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



def _recovery_counts(facts: CycleFacts) -> list[CountPoint]:
    """Return the counts that tell whether this cycle's low count recovered, oldest first.

    Up to now, and, in a cycle that is over, before the next cycle's day 1: the patient's counts in
    a later cycle speak for that cycle (a grade 4 in cycle 3 does not re-open cycle 1's recovery).
    """
    end = facts.next_day1 if facts.cycle_over and facts.next_day1 is not None else None
    counts = (c for c in facts.counts if c.collected_at <= facts.now and (end is None or c.collected_at < end))
    return sorted(counts, key=lambda c: c.collected_at)


def _recovered(facts: CycleFacts, bound: Decimal) -> CountPoint | None:
    """Return the count from which the counts came back to `bound` or above for good, or None.

    That is the first count of the final run of counts at or above the bound (`_recovery_counts`).
    """
    recovered = None
    for count in _recovery_counts(facts):
        if count.anc_1e9_per_l < bound:
            recovered = None
        elif recovered is None:
            recovered = count
    return recovered


def febrile_neutropenia(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 3: fever while neutropenic, under the clinic's fever policy (issue 21, item 6).

    Each fever criterion comes with its guideline's neutropenia: NICE CG151's temperature above
    38.0 C with a measured ANC <= 0.5 (neutropenic sepsis); IDSA 2010 / CTCAE's 38.3 C once or
    38.0 C sustained with the last ANC < 1.0 (NCCN) or a forecast below 0.5 within 48 h (IDSA
    "expected to fall"). Under the NICE-only policy every criterion takes NICE's ANC bound.
    """
    criteria = clinical.fever_criteria(_recent_temperatures(facts), thresholds.fever_policy)
    if not criteria:
        return _fn_episode_continuing(facts, thresholds)
    last = _latest_count(facts)
    for criterion, fever in sorted(criteria.items(), key=lambda item: item[1].taken_at):
        reason, evidence = _neutropenia(facts, thresholds, criterion, fever, last)
        if reason:
            return _fn_finding(facts, thresholds, criterion, fever, reason, evidence)
    return None


def _neutropenia(facts: CycleFacts, thresholds: Thresholds, criterion: str, fever: clinical.TemperaturePoint,
                 last: CountPoint | None) -> tuple[str, dict]:
    """Return (the neutropenia in words, its evidence) that makes this fever FN, or ("", {})."""
    nice = criterion == clinical.FEVER_ABOVE_38_NICE or thresholds.fever_policy == clinical.FEVER_POLICY_NICE
    bound_met = last is not None and (last.anc_1e9_per_l <= clinical.NICE_NEUTROPENIA_AT_MOST if nice
                                      else last.anc_1e9_per_l < clinical.FN_ANC_BELOW)
    if bound_met:
        return (f"last ANC {last.anc_text} x10^9/L ({_when(last.collected_at, facts)})",
                {"anc_1e9_per_l": str(last.anc_1e9_per_l), "collected_at": last.collected_at.isoformat(),
                 **_as_received(last)})
    low = None if nice else _forecast_low_within(facts, fever.taken_at, clinical.FN_PREDICTION_HORIZON)
    if low is None:
        return "", {}
    return (f"ANC forecast to fall below {clinical.FN_PREDICTED_ANC_BELOW} x10^9/L within 48 h",
            {"predicted_lo80_1e9_per_l": round(low.lo80, 3), "predicted_at": low.time.isoformat()})


def _fn_finding(facts: CycleFacts, thresholds: Thresholds, criterion: str, fever: clinical.TemperaturePoint,
                reason: str, evidence: dict) -> Finding:
    minutes = int(clinical.FN_ANTIBIOTICS_WITHIN.total_seconds() // 60)
    policy = clinical.FEVER_POLICY_NAMES.get(thresholds.fever_policy, thresholds.fever_policy)
    evidence = {"temperature_c": str(fever.temperature_c), "taken_at": fever.taken_at.isoformat(), **evidence,
                "fever_policy": thresholds.fever_policy, "fever_criterion": criterion, **_hottest(facts)}
    message = (f"Febrile neutropenia suspected: {fever.temperature_c} °C at {_when(fever.taken_at, facts)}"
               f"{_hottest_words(facts, fever)} with {reason}. Start the febrile-neutropenia pathway now: assess, "
               f"take blood cultures and give empirical antibiotics within {minutes} minutes (IDSA 2010, "
               "ASCO/IDSA 2018, NICE CG151). "
               f"Fever: {clinical.FEVER_CRITERION_WORDS[criterion]}; fever policy: {policy}.")
    return Finding(FEBRILE_NEUTROPENIA, CRITICAL, message, evidence)



def _fn_episode_continuing(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Keep a live febrile-neutropenia alert after the fever while the ANC is still below 0.5 (issue 21).

    An FN episode is not over when the fever is a day old: empirical antibiotics continue until
    the ANC is 0.5 x10^9/L or more (IDSA 2010), so the ward keeps the patient in the FN group
    until a count says so. Only for an alert already live: a new one needs a fever.
    """
    if FEBRILE_NEUTROPENIA not in facts.live_kinds:
        return None
    last = _latest_count(facts)
    if last is None or last.anc_1e9_per_l >= clinical.GRADE4_BELOW:
        return None
    evidence = {"anc_1e9_per_l": str(last.anc_1e9_per_l), "collected_at": last.collected_at.isoformat(),
                **_as_received(last), "fever_policy": thresholds.fever_policy, "episode_continuing": True}
    message = (f"Febrile neutropenia episode continuing: no fever in the last 24 h, but the last ANC is "
               f"{last.anc_text} x10^9/L ({_when(last.collected_at, facts)}), below "
               f"{clinical.GRADE4_BELOW}. Continue the FN pathway and antibiotics until the ANC is "
               f"{clinical.GRADE4_BELOW} or more (IDSA 2010).")
    return Finding(FEBRILE_NEUTROPENIA, CRITICAL, message, evidence)


def fever_unknown_anc(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Rule 3b: fever on chemotherapy without a count in the last 24 h (NICE CG151) [critical]."""
    if not facts.on_chemotherapy:
        return None
    fever = _fever(facts, thresholds)
    if fever is None:
        return late_fever(facts, thresholds)  # a fever entered a day or more after it was taken
    if febrile_neutropenia(facts, thresholds) is not None:
        return None  # rule 3 already says febrile neutropenia
    evidence = {"temperature_c": str(fever.temperature_c), "taken_at": fever.taken_at.isoformat(),
                "fever_policy": thresholds.fever_policy, **_hottest(facts)}
    policy = f" Fever policy: {clinical.FEVER_POLICY_NAMES.get(thresholds.fever_policy, thresholds.fever_policy)}."
    recent = [c for c in facts.counts if facts.now - clinical.KNOWN_ANC_WITHIN <= c.collected_at <= facts.now]
    at = _when(fever.taken_at, facts) + _hottest_words(facts, fever)
    if not recent:
        message = (f"Fever {fever.temperature_c} °C at {at} and no blood count in the last 24 h: fever in a "
                   "patient on chemotherapy: treat as possible neutropenic sepsis, urgent FBC and assessment "
                   "(NICE CG151). Do not wait for the count to give antibiotics if the patient is unwell." + policy)
        return Finding(FEVER_UNKNOWN_ANC, CRITICAL, message, evidence)
    last = recent[-1]
    evidence.update(anc_1e9_per_l=str(last.anc_1e9_per_l), collected_at=last.collected_at.isoformat())
    message = (f"Fever {fever.temperature_c} °C at {at} in a patient on chemotherapy; ANC {last.anc_text} "
               f"x10^9/L on {_when(last.collected_at, facts)}. Assess for infection and repeat the FBC "
               "(NICE CG151)." + policy)
    return Finding(FEVER_UNKNOWN_ANC, HIGH, message, evidence)



def _hottest(facts: CycleFacts) -> dict:
    """Return the hottest reading of the fever lookback as evidence: a hotter one is news ("Worse")."""
    hottest = clinical.hottest(_recent_temperatures(facts))
    return {"hottest_c": str(hottest.temperature_c), "hottest_at": hottest.taken_at.isoformat()} if hottest else {}


def _hottest_words(facts: CycleFacts, fever: clinical.TemperaturePoint) -> str:
    """Return " (hottest 39.4 °C at Fri 04 Dec 14:00)" when a reading was hotter than the fever's first."""
    hottest = clinical.hottest(_recent_temperatures(facts))
    if hottest is None or hottest.temperature_c <= fever.temperature_c:
        return ""
    return f" (hottest {hottest.temperature_c} °C at {_when(hottest.taken_at, facts)})"


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
    """Rule 7: a G-CSF dose inside the window its label excludes around chemotherapy [medium].

    Judged on when the dose acts (an on-body injector about 27 h after it is applied), against the
    chemotherapy given and, for pegfilgrastim, the next PLANNED day 1 (issue 21 item 8): a dose
    less than 14 days (12 every 2 weeks) before it is flagged when it is recorded, not after.
    """
    planned = _planned_chemo(facts)
    for dose in sorted(facts.gcsf_doses, key=lambda d: d.given_at, reverse=True):
        if facts.now - dose.given_at > clinical.GCSF_TIMING_LOOKBACK:
            continue
        long_acting = clinical.is_long_acting(dose.product)
        after = clinical.PEGFILGRASTIM_NOT_AFTER_CHEMO if long_acting else clinical.FILGRASTIM_NOT_AFTER_CHEMO
        for chemo in (*facts.chemo_times, *(planned if long_acting else ())):
            before = (clinical.pegfilgrastim_not_before_chemo(facts.chemo_interval_days, chemo.infusion_hours)
                      if long_acting else clinical.FILGRASTIM_NOT_BEFORE_CHEMO)
            # "Before" from the start, "after" from the end of the infusion; "at least N days before" includes N.
            if chemo.given_at - before < dose.acts_at < chemo.ends_at + after:
                return _gcsf_timing_finding(facts, dose, chemo, long_acting, before,
                                            planned=any(chemo is p for p in planned))
    return None


def _planned_chemo(facts: CycleFacts) -> tuple[ChemoPoint, ...]:
    """Return the planned day 1s not given yet: this cycle's (while waiting) and the next one's."""
    infusion = max(facts.chemo_times, key=lambda c: c.given_at).infusion_hours if facts.chemo_times else 0
    planned = []
    if facts.day1 is not None and not facts.chemo_given:
        planned.append(ChemoPoint(facts.day1, infusion))
    if facts.next_day1 is not None and not facts.next_day1_given:
        planned.append(ChemoPoint(facts.next_day1, infusion))
    return tuple(planned)



def _gcsf_timing_finding(facts: CycleFacts, dose: GcsfPoint, chemo: ChemoPoint, long_acting: bool,
                         before: timedelta, *, planned: bool = False) -> Finding:
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
    given = f"given {_when(dose.given_at, facts)}"
    if dose.on_body_injector:
        given = (f"on-body injector applied {_when(dose.given_at, facts)}, delivering about "
                 f"{_when(dose.acts_at, facts)}")
    if planned:
        days = (chemo.given_at - dose.acts_at).total_seconds() / 86400
        relation = f"{days:.1f} days before the next planned chemotherapy ({_when(chemo.given_at, facts)})"
        advice = "Discuss moving the cycle or the G-CSF with the oncologist before that day."
    else:
        relation, advice = _relation(dose, chemo, facts), "Check the timing with the oncologist."
    message = f"{dose.product.capitalize()} {given}, {relation}: {rule}. {advice}"
    evidence = {"dose_id": dose.dose_id, "given_at": dose.given_at.isoformat(),
                "chemo_at": chemo.given_at.isoformat(), "product": dose.product,
                "chemo_ends_at": chemo.ends_at.isoformat(), "chemo_planned": planned,
                "acts_at": dose.acts_at.isoformat()}
    return Finding(GCSF_TIMING, MEDIUM, message, evidence)



def _relation(dose: GcsfPoint, chemo: ChemoPoint, facts: CycleFacts) -> str:
    """Return where the dose falls against the chemotherapy, in words: "30 h after the start of ..."."""
    hours = (dose.acts_at - chemo.given_at).total_seconds() / 3600
    if hours < 0:
        return f"{-hours / 24:.1f} days before chemotherapy ({_when(chemo.given_at, facts)})"
    if not chemo.infusion_hours:
        return f"{hours:.0f} h after chemotherapy ({_when(chemo.given_at, facts)})"
    infusion, ends = f"the {chemo.infusion_hours}-hour continuous infusion", _when(chemo.ends_at, facts)
    if dose.acts_at < chemo.ends_at:
        state = f"while {infusion} was still running (ends {ends})"
    else:
        state = f"{(dose.acts_at - chemo.ends_at).total_seconds() / 3600:.0f} h after {infusion} ended ({ends})"
    return f"{hours:.0f} h after the start of chemotherapy ({_when(chemo.given_at, facts)}), {state}"


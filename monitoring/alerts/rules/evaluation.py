"""Run the rules that apply to a cycle at a moment, most severe first."""

from __future__ import annotations

from monitoring.alerts.rules.facts import CRITICAL, CycleFacts, Finding, Thresholds
from monitoring.alerts.rules.forecast import (
    gcsf_not_given,
    grade4_predicted,
    nadir_unmonitored,
    not_ready,
    pre_dose_counts,
)
from monitoring.alerts.rules.observed import (
    febrile_neutropenia,
    fever_recheck,
    fever_unknown_anc,
    gcsf_timing,
    observed_grade,
    platelets_grade4,
)


def evaluate(facts: CycleFacts, thresholds: Thresholds, *, observed_only: bool = False) -> list[Finding]:
    """Return the conditions that hold for the cycle now, most severe first.

    `observed_only`: the save path's subset (OBSERVED_KINDS), which needs no forecast. A cycle
    that is over is still graded (a late count is alerted whichever cycle it falls in), but only
    a critical finding is raised there. Patient-level rules run in the current cycle only, so a
    fever raises one alert, not one per cycle.
    """
    started = facts.day1 is not None and facts.day1 <= facts.now
    if facts.cycle_over:
        # Still the patient's current cycle when it is over only because the patient was made inactive
        # (her course still active): her fevers are judged here, as they are once the course has ended.
        over = [observed_grade, febrile_neutropenia, fever_unknown_anc] if facts.is_current else [observed_grade]
        found = [finding for rule in over if (finding := rule(facts, thresholds)) is not None]
        return sorted([f for f in found if f.severity == CRITICAL], key=lambda f: -f.severity)
    rules = [observed_grade, platelets_grade4]
    if facts.is_current:
        rules += [febrile_neutropenia, fever_unknown_anc, fever_recheck, gcsf_timing]
    if started and not observed_only:
        rules += [grade4_predicted, not_ready, nadir_unmonitored, gcsf_not_given]
    elif started and has_pre_dose_count(facts):
        rules.append(not_ready)  # a pre-dose count decides readiness at save time (PRE_DOSE_KINDS)
    findings = [finding for rule in rules if (finding := rule(facts, thresholds)) is not None]
    return sorted(findings, key=lambda f: -f.severity)



def has_pre_dose_count(facts: CycleFacts) -> bool:
    """Return True if a pre-dose count decides the cycle's readiness (no forecast needed)."""
    return facts.chemo_given and not facts.cycle_over and bool(pre_dose_counts(facts))

"""Worse is news (issue 21 item 2): when a live alert's condition has worsened, in words.

Pure, like the other rules: the evidence the alert last showed and the finding of now in, the
change in words out (or None when nothing got worse). The lifecycle then raises the alert again
(a new alert linked to the one it replaces), so it is unacknowledged, in-app to the team at once,
and emailed and escalated as any new alert of its severity.

What counts as worse, per kind, with sources:

- any kind: a higher severity than the alert had (fever with a normal count to fever with no
  count: high to critical);
- grade 4 observed: a count below 0.1 x10^9/L where the alert's was not: profound neutropenia
  (IDSA 2010 defines it, and places it among the features of high-risk febrile neutropenia);
- febrile neutropenia: the same fall to profound neutropenia (IDSA 2010, high risk);
- fever with unknown neutrophil status, or febrile neutropenia, acknowledged: a hotter fever: the
  hottest reading rising into a higher CTCAE v5.0 fever grade (above 39.0 or 40.0 C) or by 0.5 C
  over the hottest the alert showed (clinical FEVER_*; a deadband against flapping); in an FN
  episode kept after its fever, a fever again;
- fever re-check, acknowledged: another raised reading after it (the re-check was meant to settle
  the first; a second one is a new question for the nurse);
- G-CSF timing, acknowledged: another mistimed dose (a second administration, a second error).

Between kinds (`SUPERSEDES`): grade 3 becoming grade 4 (CTCAE v5.0), a raised reading becoming a
fever, a fever with unknown neutrophil status becoming febrile neutropenia (NICE CG151 and IDSA
2010): the graver alert replaces the lesser, linked to it, so one fever is one critical alert.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation

from monitoring import clinical
from monitoring.alerts.rules.facts import (
    FEBRILE_NEUTROPENIA,
    FEVER_RECHECK,
    FEVER_UNKNOWN_ANC,
    GCSF_TIMING,
    GRADE3_OBSERVED,
    GRADE4_OBSERVED,
    Finding,
)

# The graver kind (key) replaces a live alert of the lesser kinds (value) of the same patient.
SUPERSEDES: dict[str, tuple[str, ...]] = {
    GRADE4_OBSERVED: (GRADE3_OBSERVED,),
    FEBRILE_NEUTROPENIA: (FEVER_UNKNOWN_ANC, FEVER_RECHECK),
    FEVER_UNKNOWN_ANC: (FEVER_RECHECK,),
}

SEVERITY_WORDS = {1: "low", 2: "medium", 3: "high", 4: "critical"}


def worsening(kind: str, severity: int, shown: dict, finding: Finding, *, acknowledged: bool,
              tz: tzinfo) -> str | None:
    """Return how the condition worsened since the alert showed `shown` (its latest evidence), or None."""
    now = finding.evidence
    if finding.severity > severity:
        return (f"{_describe(shown, tz) or 'before'} -> {_describe(now, tz) or 'now'}: "
                f"now {SEVERITY_WORDS.get(finding.severity, finding.severity)}, was {SEVERITY_WORDS.get(severity)}")
    if kind in (GRADE4_OBSERVED, FEBRILE_NEUTROPENIA):
        before, after = _anc(shown), _anc(now)
        profound = clinical.PROFOUND_BELOW
        if after is not None and after < profound and (before is None or before >= profound):
            return (f"{_describe(shown, tz)} -> {_describe(now, tz)}: profound neutropenia (< {profound}, "
                    "IDSA 2010)")
    if kind in (FEVER_UNKNOWN_ANC, FEBRILE_NEUTROPENIA):
        return _hotter(shown, now, tz) if acknowledged else None  # unacknowledged: it is still calling
    if kind == GRADE4_OBSERVED:
        return None
    if kind == FEVER_RECHECK and acknowledged and _later(now.get("taken_at"), shown.get("taken_at")):
        return f"{_describe(shown, tz)} -> {_describe(now, tz)}: raised again after the re-check"
    if kind == GCSF_TIMING and acknowledged and now.get("dose_id") != shown.get("dose_id"):
        return f"another G-CSF dose inside the excluded window: {now.get('product', 'G-CSF')} at " + _at(
            now.get("given_at"), tz)
    return None


def _hotter(shown: dict, now: dict, tz: tzinfo) -> str | None:
    """Return how a fever in hand got hotter, in words, or None (the safety round, item 2).

    Worse when the hottest reading rises into a higher CTCAE v5.0 fever grade (above 39.0 or 40.0 °C),
    or by FEVER_WORSE_BY_C over the hottest the alert has shown; in a febrile-neutropenia episode kept
    after its fever ("episode continuing"), any fever again. The hottest only rises, so a reading
    going up and down under it never re-notifies (no flapping).
    """
    before, after = _celsius(shown), _celsius(now)
    if after is None:
        return None
    at = _at(now.get("hottest_at") or now.get("taken_at"), tz)
    if before is None:
        return f"fever again during the episode: {after} °C at {at}"
    grade = clinical.fever_grade(after)
    if grade > clinical.fever_grade(before) and grade >= 2:
        bound = clinical.FEVER_GRADE3_ABOVE_C if grade == 3 else clinical.FEVER_GRADE2_ABOVE_C
        return f"{before} °C -> {after} °C at {at}: above {bound} °C (CTCAE v5.0 fever grade {grade})"
    if after - before >= clinical.FEVER_WORSE_BY_C:
        return f"{before} °C -> {after} °C at {at}: {after - before} °C hotter"
    return None


def _celsius(evidence: dict) -> Decimal | None:
    value = evidence.get("hottest_c", evidence.get("temperature_c"))
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def transition(old_kind_label: str, shown: dict, finding: Finding, tz: tzinfo) -> str:
    """Return a lesser alert becoming a graver one, in words: "grade 3 observed (ANC 0.80 ...) -> ..."."""
    before, after = _describe(shown, tz), _describe(finding.evidence, tz)
    return f"{old_kind_label}{f' ({before})' if before else ''} -> {after or 'now'}"


def _describe(evidence: dict, tz: tzinfo) -> str:
    """Return the values an alert rests on, in a few words: "ANC 0.40 at Fri 04 Dec 08:10"."""
    parts = []
    # A censored count as the lab reported it ("<0.1"), as the alert's own evidence reads it.
    anc, at = evidence.get("anc_as_received") or evidence.get("anc_1e9_per_l"), evidence.get("collected_at")
    if anc is not None:
        parts.append(f"ANC {anc}{' at ' + _at(at, tz) if at else ''}")
    if evidence.get("temperature_c") is not None:
        taken = evidence.get("taken_at")
        parts.append(f"{evidence['temperature_c']} °C{' at ' + _at(taken, tz) if taken else ''}")
    if evidence.get("p_grade4") is not None:
        parts.append(f"P(grade 4) {float(evidence['p_grade4']):.0%}")
    return ", ".join(parts)


def _anc(evidence: dict) -> Decimal | None:
    value = evidence.get("anc_1e9_per_l")  # grade 4: the worst count; febrile neutropenia: the last
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def _later(after, before) -> bool:
    return bool(after and before and datetime.fromisoformat(after) > datetime.fromisoformat(before))


def _at(moment, tz: tzinfo) -> str:
    if not moment:
        return "an unknown time"
    return datetime.fromisoformat(str(moment)).astimezone(tz).strftime("%a %d %b %H:%M")

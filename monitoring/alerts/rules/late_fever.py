"""A fever entered late (the safety round, item 1): alerted on the worst plausible reading, or why not.

A reading entered more than a day after it was taken is never "a fever now" to the fever rules (they
look back FN_FEVER_LOOKBACK from now), so it reached nobody when it was taken and would reach nobody
when it is entered. The rule and its argument are in `clinical/thresholds.py` (LATE_FEVER_*):
a late fever in the post-chemotherapy window raises "Fever on chemotherapy, neutrophil status
unknown" [high], naming the delay ("taken 30 h ago, entered now") and asking for a telephone check
now, unless the patient cannot be neutropenic or the fever is clearly historical; then it raises
nothing and `late_fevers_not_alerted` says why (written on the reading's history).
"""

from __future__ import annotations

from datetime import timedelta

from monitoring import clinical
from monitoring.alerts.rules.facts import FEBRILE_NEUTROPENIA, FEVER_UNKNOWN_ANC, HIGH, CycleFacts, Finding, Thresholds
from monitoring.alerts.rules.shared import _as_received, _forecast_low_within, _latest_count, _when

# A save takes its `now` before it stores the reading (an import of a large file, up to minutes before):
# an entry this far after `now` is the one being saved. Further on, `now` is a replay of the past (a
# simulation or a benchmark), where every reading would look entered late.
_ENTRY_AFTER_NOW = timedelta(hours=1)


def late_fevers(facts: CycleFacts) -> list[clinical.TemperaturePoint]:
    """Return the fevers entered in the last day that were taken before the fever rules' lookback, latest first."""
    lookback = facts.now - clinical.FN_FEVER_LOOKBACK
    late = [t for t in facts.temperatures
            if t.entered_at is not None and t.temperature_c >= clinical.FEVER_SUSTAINED_C and t.taken_at < lookback
            and t.entered_at - t.taken_at > clinical.LATE_FEVER_ENTERED_AFTER
            and facts.now - clinical.LATE_FEVER_ALERT_FOR <= t.entered_at <= facts.now + _ENTRY_AFTER_NOW]
    return sorted(late, key=lambda t: (t.taken_at, t.temperature_c), reverse=True)


def late_fever(facts: CycleFacts, thresholds: Thresholds) -> Finding | None:
    """Return the alert for the latest fever entered late that could still matter, or None."""
    for fever in late_fevers(facts):
        finding, _ = _judge(facts, fever)
        if finding is not None:
            return finding
    return None


def late_fevers_not_alerted(facts: CycleFacts) -> list[tuple[clinical.TemperaturePoint, str]]:
    """Return each late fever that raises no alert, with why in a few words (under 80 characters)."""
    quiet = []
    for fever in late_fevers(facts):
        finding, why = _judge(facts, fever)
        if finding is None:
            quiet.append((fever, why))
    return quiet


def _judge(facts: CycleFacts, fever: clinical.TemperaturePoint) -> tuple[Finding | None, str]:
    """Return (the alert, "") or (None, why no alert)."""
    if not facts.on_chemotherapy:
        return None, "outside the post-chemotherapy fever window"
    if FEBRILE_NEUTROPENIA in facts.live_kinds:
        return None, "a febrile-neutropenia episode is live and covers it"
    later_normal = _later_normal(facts, fever)
    if facts.now - fever.taken_at > clinical.LATE_FEVER_HISTORICAL_AFTER and later_normal is not None:
        hours = int(clinical.LATE_FEVER_HISTORICAL_AFTER.total_seconds() // 3600)
        return None, (f"historical: over {hours} h old, {later_normal.temperature_c} °C taken after it "
                      f"({_when(later_normal.taken_at, facts)})")
    neutropenia, evidence = _neutropenia_possible(facts, fever)
    if not neutropenia:
        return None, evidence["why"]
    hours_ago = _hours(facts.now - fever.taken_at)
    evidence.update(temperature_c=str(fever.temperature_c), taken_at=fever.taken_at.isoformat(),
                    entered_at=fever.entered_at.isoformat(), late_fever=True, temperature_id=fever.reading_id,
                    entered_late_hours=_hours(fever.entered_at - fever.taken_at))
    evidence.pop("why", None)
    message = (f"Fever {fever.temperature_c} °C {delay_words(facts, fever)}: it reached nobody when it was taken. "
               f"{neutropenia[0].upper()}{neutropenia[1:]}. "
               "Telephone the patient now: if febrile (38.0 °C or more) or unwell, assess the patient face to face "
               "now and start the febrile-neutropenia pathway (NICE CG151; UKONS triage: a fever after "
               "anticancer treatment is red); if well, record the temperature now and remind the patient to call "
               f"at once with any fever. (A fever {hours_ago} h old is not a fever now: high, not critical.)")
    return Finding(FEVER_UNKNOWN_ANC, HIGH, message, evidence), ""


def _neutropenia_possible(facts: CycleFacts, fever: clinical.TemperaturePoint) -> tuple[str, dict]:
    """Return (why she may be neutropenic, evidence), or ("", {"why": why she cannot be})."""
    last = _latest_count(facts)
    low = _forecast_low_within(facts, fever.taken_at, facts.now - fever.taken_at + clinical.FN_PREDICTION_HORIZON)
    if low is not None:
        return (f"the ANC is forecast to fall below {clinical.FN_PREDICTED_ANC_BELOW} x10^9/L by "
                f"{_when(low.time, facts)}", {"predicted_lo80_1e9_per_l": round(low.lo80, 3),
                                               "predicted_at": low.time.isoformat()})
    if last is None or last.collected_at < fever.taken_at - clinical.KNOWN_ANC_WITHIN:
        return "no blood count from around the fever or since: neutrophil status unknown", {}
    evidence = {"anc_1e9_per_l": str(last.anc_1e9_per_l), "collected_at": last.collected_at.isoformat(),
                **_as_received(last)}
    words = f"ANC {last.anc_text} x10^9/L on {_when(last.collected_at, facts)}"
    if last.anc_1e9_per_l < clinical.FN_ANC_BELOW:
        return f"last {words}: may have been, and may still be, neutropenic", evidence
    return "", {"why": f"not neutropenic: {words}, no forecast below {clinical.FN_PREDICTED_ANC_BELOW}"}


def _later_normal(facts: CycleFacts, fever: clinical.TemperaturePoint) -> clinical.TemperaturePoint | None:
    later = [t for t in facts.temperatures
             if fever.taken_at < t.taken_at <= facts.now and t.temperature_c < clinical.FEVER_SUSTAINED_C]
    return max(later, key=lambda t: t.taken_at, default=None)


def delay_words(facts: CycleFacts, fever: clinical.TemperaturePoint) -> str:
    """Return "taken 30 h ago (Thu 03 Dec 08:00), entered now" ("entered 3 h ago" at a later evaluation)."""
    entered = facts.now - fever.entered_at
    when = "now" if entered.total_seconds() < 3600 else f"{_hours(entered)} h ago"
    return f"taken {_hours(facts.now - fever.taken_at)} h ago ({_when(fever.taken_at, facts)}), entered {when}"


def _hours(delta) -> int:
    return int(delta.total_seconds() // 3600)

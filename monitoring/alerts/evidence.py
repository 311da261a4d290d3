"""An alert's evidence as handover sentences: units, clinic-time moments, grades; ids left out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from monitoring import clinical
from monitoring.alerts.words import ANC_UNIT, count, day_text, number, parse_moment, percent, when
from monitoring.models.care import Regimen  # FN-risk labels with their NCCN / EORTC ranges


def evidence_lines(evidence: dict, now: datetime) -> list[str]:
    """Return the evidence as handover sentences with units and clinic-time timestamps.

    Known groups of keys become one sentence each ("ANC 0.30 ×10⁹/L at 14:11 today, grade 4");
    keys nobody has worded yet are shown as "Label: value", with times in clinic time. Internal
    ids (count_id, dose_id, exception_id), settings (fever_policy) and yes/no flags are left out or
    put in words: they mean nothing to a nurse.
    """
    evidence = {key: value for key, value in (evidence or {}).items()
                if key not in UNSAID and key not in ("replaces", "window_passed", "episode_continuing")}
    lines = []
    for words in (_change_line, _anc_line, _latest_line, _recovered_line, _temperature_line, _recheck_line,
                  _forecast_low_line, _p_grade4_line, _nadir_line, _ready_line, _window_line, _gcsf_line,
                  _gcsf_timing_line, _readings_line):
        line = words(evidence, now)
        if line:
            lines.append(line)
    lines += [f"{_label(key)}: {_value(value, now)}" for key, value in evidence.items()
              if value not in (None, "", []) and not isinstance(value, bool) and not key.endswith("_id")]
    return lines


# Evidence keys that are bookkeeping, not clinical facts: ids (the alert links to the record), the
# held exceptions' ids, the clinic's fever setting (the message names the definition used).
UNSAID = frozenset({"count_id", "dose_id", "exception_id", "held", "fever_policy", "fever_criterion"})


def _anc_line(evidence: dict, now: datetime) -> str:
    if evidence.get("anc_1e9_per_l") is None:
        return ""
    anc = evidence.pop("anc_1e9_per_l")
    line = f"ANC {evidence.pop('anc_as_received', None) or count(anc)} {ANC_UNIT}"  # a censored one: "<0.1"
    if evidence.get("collected_at"):
        line += f" at {when(parse_moment(evidence.pop('collected_at')), now)}"
    grade = evidence.pop("ctcae_grade", None)
    if grade is None:
        grade = clinical.ctcae_grade(Decimal(str(anc)))
    return f"{line}, grade {grade}"


def _change_line(evidence: dict, now: datetime) -> str:
    change = evidence.pop("change", None)
    return f"Worse: {change}" if change else ""


def _value_line(evidence: dict, now: datetime, key: str, words: str, moment_key: str, preposition: str = "at",
                digits: int = 2, measured: bool = False, as_received: str | None = None) -> str:
    """Return "<words> <value> [at/by <moment>]" for one value of the evidence, popping what it used.

    `measured`: the value is a count as received (all the places the lab gave), not a computed one;
    `as_received`: a censored count's text ("<0.1"), shown instead of its bound.
    """
    if evidence.get(key) is None:
        return ""
    value = evidence.pop(key)
    line = words.format(as_received or (count(value) if measured else number(value, digits)))
    if evidence.get(moment_key):
        line += f" {preposition} {when(parse_moment(evidence.pop(moment_key)), now)}"
    return line


def _latest_line(evidence: dict, now: datetime) -> str:
    return _value_line(evidence, now, "latest_anc_1e9_per_l", f"Latest ANC {{}} {ANC_UNIT}", "latest_collected_at",
                       measured=True, as_received=evidence.pop("latest_anc_as_received", None))


def _recovered_line(evidence: dict, now: datetime) -> str:
    return _value_line(evidence, now, "recovered_anc_1e9_per_l", f"Recovered: ANC {{}} {ANC_UNIT}", "recovered_at",
                       measured=True)


def _temperature_line(evidence: dict, now: datetime) -> str:
    """Return "Temperature 38.4 °C at ...; hottest 39.2 °C at ...; entered 30 h after it was taken"."""
    keys, first = ("hottest_c", "hottest_at", "entered_late_hours", "entered_at"), evidence.get("temperature_c")
    hottest, hottest_at, late_hours, entered_at = [evidence.pop(key, None) for key in keys]
    line = _value_line(evidence, now, "temperature_c", "Temperature {} °C", "taken_at", digits=1)
    if line and hottest is not None and hottest_at and Decimal(str(hottest)) > Decimal(str(first)):
        line += f"; hottest {number(hottest, 1)} °C at {when(parse_moment(hottest_at), now)}"
    if line and late_hours is not None and entered_at:
        line += f"; entered {late_hours} h after it was taken ({when(parse_moment(entered_at), now)})"
    return line


def _forecast_low_line(evidence: dict, now: datetime) -> str:
    at = evidence.get("predicted_at")
    if at and parse_moment(at) <= now:
        # A moment already past ("by 09:00 today" read at 19:00 reads as still to come): what was forecast for it.
        return _value_line(evidence, now, "predicted_lo80_1e9_per_l",
                           f"ANC forecast {{}} {ANC_UNIT} (lower 80 % bound)", "predicted_at")
    return _value_line(evidence, now, "predicted_lo80_1e9_per_l",
                       f"ANC forecast to fall to {{}} {ANC_UNIT} (lower 80 % bound)", "predicted_at", preposition="by")


def _p_grade4_line(evidence: dict, now: datetime) -> str:
    if evidence.get("p_grade4") is None:
        return ""
    line = f"P(grade 4) {percent(evidence.pop('p_grade4'))}"
    if evidence.get("threshold") is not None:
        line += f" (alert from {percent(evidence.pop('threshold'))})"
    return line


def _nadir_line(evidence: dict, now: datetime) -> str:
    if evidence.get("nadir_anc_1e9_per_l") is None:
        for key in ("nadir_anc_1e9_per_l", "nadir_interval80", "nadir_at"):
            evidence.pop(key, None)
        return ""
    line = f"Predicted nadir {number(evidence.pop('nadir_anc_1e9_per_l'))} {ANC_UNIT}"
    interval = evidence.pop("nadir_interval80", None)
    if interval and None not in interval:
        line += f" (80 %: {number(interval[0])} to {number(interval[1])})"
    if evidence.get("nadir_at"):
        line += f" around {day_text(parse_moment(evidence.pop('nadir_at')), now)}"
    return line


def _ready_line(evidence: dict, now: datetime) -> str:
    if not evidence.get("next_day1"):
        return ""
    line = f"Next cycle due {day_text(parse_moment(evidence.pop('next_day1')), now)}"
    if evidence.get("threshold_1e9_per_l") is not None:
        line += f", needs ANC ≥ {number(evidence.pop('threshold_1e9_per_l'))} {ANC_UNIT}"
    if evidence.get("p_ready") is not None:
        line += f"; P(ready) {percent(evidence.pop('p_ready'))}"
    return line


def _recheck_line(evidence: dict, now: datetime) -> str:
    if not evidence.get("recheck_by"):
        return ""
    return f"Re-check the temperature by {when(parse_moment(evidence.pop('recheck_by')), now)}"


def _gcsf_timing_line(evidence: dict, now: datetime) -> str:
    if not (evidence.get("given_at") and evidence.get("chemo_at")):
        return ""
    product = str(evidence.pop("product", "") or "G-CSF")
    line = f"{product[:1].upper()}{product[1:]} given {when(parse_moment(evidence.pop('given_at')), now)}"
    line += f"; chemotherapy given {when(parse_moment(evidence.pop('chemo_at')), now)}"
    if evidence.get("chemo_ends_at"):
        line += f", infusion ending {when(parse_moment(evidence.pop('chemo_ends_at')), now)}"
    return line


def _readings_line(evidence: dict, now: datetime) -> str:
    """Return a held count's readings: "Readings: as received 80.000 ×10⁹/L, grade 0; if it is cells/uL 0.080 ..."."""
    readings = evidence.pop("readings", None)
    if not readings:
        return ""
    return "Readings: " + "; ".join(f"{r.get('reading', '')} {number(r.get('anc_1e9_per_l'), 3)} {ANC_UNIT}, "
                                    f"grade {r.get('ctcae_grade')}" for r in readings)


def _window_line(evidence: dict, now: datetime) -> str:
    if not (evidence.get("window_start") and evidence.get("window_end")):
        return ""
    start, end = parse_moment(evidence.pop("window_start")), parse_moment(evidence.pop("window_end"))
    return f"Nadir window {day_text(start, now)} to {day_text(end, now)}"


def _gcsf_line(evidence: dict, now: datetime) -> str:
    if "fn_risk" not in evidence:
        return ""
    risk = evidence.pop("fn_risk")
    line = f"FN risk of the regimen: {dict(Regimen.FnRisk.choices).get(risk, risk)}"
    factors = [str(f) for f in evidence.pop("risk_factors", None) or []]
    if evidence.pop("secondary", False) and not any("febrile" in f.lower() for f in factors):
        factors.append("febrile neutropenia in an earlier cycle")
    if factors:
        line += f"; patient risk factors: {', '.join(factors)}"
    if evidence.get("due_by"):
        line += f"; G-CSF expected by {when(parse_moment(evidence.pop('due_by')), now)}"
    return line


def _label(key: str) -> str:
    name, unit = str(key), ""
    for suffix, suffix_unit in (("_1e9_per_l", f" ({ANC_UNIT})"), ("_c", " (°C)"), ("_pct", " (%)")):
        if name.endswith(suffix):
            name, unit = name[: -len(suffix)], suffix_unit
    words = " ".join("ANC" if word == "anc" else word for word in name.split("_")) + unit
    return words[:1].upper() + words[1:]


def _value(value, now: datetime) -> str:
    if isinstance(value, list):
        return ", ".join(_value(v, now) for v in value)
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, str) and len(value) >= 16 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return when(parse_moment(value), now)
        except ValueError:
            return value
    return str(value)

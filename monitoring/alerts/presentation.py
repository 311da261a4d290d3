"""How an alert reads to a nurse: a headline in words, the next step, evidence as a handover line.

One mapping keyed by alert kind, with a default, so a kind added to the alert rules later still
renders sensibly (its own label, the message and generic evidence) before anyone writes its words.
Nothing here decides anything clinical: the alert rules do; this only says it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from monitoring import clinical
from monitoring.models.care import Regimen  # FN-risk labels with their NCCN / EORTC ranges

ANC_UNIT = "×10⁹/L"  # as people write it (not "x10^9/L")
FN_KIND = "febrile_neutropenia"
FN_ANTIBIOTIC_TARGET_MINUTES = int(clinical.FN_ANTIBIOTICS_WITHIN.total_seconds() // 60)


@dataclass(frozen=True)
class KindText:
    """What the pages say about one kind of alert."""

    title: str  # short, for the ward: "Febrile neutropenia suspected"
    action: str  # what to do, in a few words: "start FN pathway"
    next_step: str  # the next step in full, on the alert
    placeholder: str  # an example acknowledgement note
    icon: str = "!"  # a text symbol beside the severity word (never the only cue)
    rank: int = 1  # 0 sorts before every other kind whatever its severity
    asks_antibiotics: bool = False  # acknowledging asks when antibiotics were given


KIND_TEXT: dict[str, KindText] = {
    FN_KIND: KindText(
        "Febrile neutropenia suspected", "start FN pathway",
        "Assess now (observations, sepsis screen), take blood cultures and give empirical antibiotics "
        f"within {FN_ANTIBIOTIC_TARGET_MINUTES} minutes per local policy; call the on-call team.",
        "e.g. Seen 08:40, cultures taken, piperacillin-tazobactam given 09:05, on-call registrar informed",
        icon="", rank=0, asks_antibiotics=True,
    ),
    "grade4_observed": KindText(
        "Grade 4 observed", "phone patient, check for fever",
        "Phone the patient: temperature and symptoms now; remind them to call at 38.0 °C; plan a repeat FBC.",
        "e.g. Phoned patient, afebrile, knows to call at 38.0 °C; repeat FBC booked for Thursday",
        icon="▼",
    ),
    "grade3_observed": KindText(
        "Grade 3 observed", "review, repeat FBC",
        "Review the patient and plan a repeat count; give fever advice.",
        "e.g. Patient well, fever advice given, repeat FBC booked for Monday",
        icon="▼",
    ),
    "grade4_predicted": KindText(
        "Grade 4 predicted", "plan FBC",
        "Book a blood count around the predicted nadir and counsel the patient on fever.",
        "e.g. FBC booked for the nadir day; fever advice repeated by phone",
        icon="◆",
    ),
    "not_ready": KindText(
        "Not ready for next cycle", "discuss delay",
        "Discuss a delay or dose reduction with the oncologist; plan a pre-dose count.",
        "e.g. Discussed with oncologist: delay one week, repeat FBC before day 1",
        icon="‖",
    ),
    "nadir_unmonitored": KindText(
        "Nadir window without a count", "plan FBC",
        "Arrange a blood count within the nadir window.",
        "e.g. FBC booked for tomorrow morning at the GP surgery",
        icon="?",
    ),
    "gcsf_not_given": KindText(
        "G-CSF indicated, none recorded", "check or discuss G-CSF",
        "Check whether G-CSF was given elsewhere; otherwise discuss prophylaxis with the oncologist.",
        "e.g. Pegfilgrastim given by the district nurse on day 2; recorded",
        icon="+",
    ),
}


def kind_text(kind: str, label: str = "") -> KindText:
    """Return the words for `kind`, or sensible default words for a kind without its own."""
    if kind in KIND_TEXT:
        return KIND_TEXT[kind]
    return KindText(
        label or kind.replace("_", " ").capitalize(), "see alert",
        "Read the alert and act per local policy; call the on-call team if unsure.",
        "What you did and what happens next",
    )


def alert_order(alert) -> tuple:
    """Sort key: a condition that lasts before one that cleared, febrile neutropenia first, then
    most severe, then oldest. Acknowledging does not move an alert down: in hand is still live."""
    cleared = getattr(alert, "cleared_at", None) is not None
    return (cleared, kind_text(alert.kind).rank, -alert.severity, alert.raised_at)


def headline(alert, now: datetime) -> str:
    """Return the alert in a few words for the ward: "Grade 4 predicted Mon 24 Nov - plan FBC".

    From its latest evidence (issue 21: messages tell the present). A cleared alert says so and
    asks for no action that no longer applies: "Grade 4 observed (ANC 0.37) - cleared 14 Nov, ANC 4.16".
    """
    text = kind_text(alert.kind, alert.title)
    evidence = getattr(alert, "latest_evidence", None) or alert.evidence or {}
    detail = _headline_detail(alert.kind, evidence, now)
    action = cleared_words(alert, now) or text.action
    return f"{text.title}{' ' + detail if detail else ''} - {action}"


def cleared_words(alert, now: datetime) -> str:
    """Return "cleared 14 Nov, ANC 4.16" for an alert whose condition has cleared, else ""."""
    if getattr(alert, "cleared_at", None) is None:
        return ""
    evidence = getattr(alert, "latest_evidence", None) or alert.evidence or {}
    anc = evidence.get("recovered_anc_1e9_per_l", evidence.get("latest_anc_1e9_per_l"))
    return f"cleared {_day(alert.cleared_at, now)}" + (f", ANC {_number(anc)}" if anc is not None else "")


def in_hand_words(alert, now: datetime) -> str:
    """Return how a live acknowledged alert is in hand, in words, or "" if it is not acknowledged.

    "acknowledged 02:10 today by N. Day; antibiotics 02:40 today (30 min)", or "...; antibiotics
    not recorded" for febrile neutropenia (the time can be recorded after any acknowledgement).
    """
    if alert.acknowledged_at is None:
        return ""
    words = f"acknowledged {when(alert.acknowledged_at, now)} by {short_name(alert.acknowledged_by)}"
    if kind_text(alert.kind).asks_antibiotics:
        given = alert.antibiotics_given_at
        if given is None:
            words += "; antibiotics not recorded"
        else:
            # From the fever that raised it, as the alert quality page measures it (else from the alert).
            fever_at = (alert.evidence or {}).get("taken_at")
            start = parse_moment(fever_at) if fever_at else alert.raised_at
            minutes = max(0, int((given - start).total_seconds() // 60))
            words += f"; antibiotics {when(given, now)} ({minutes} min after the fever)"
    return words


def short_name(user) -> str:
    """Return a user as a colleague reads it on a busy ward: "N. Day", else the username."""
    if user is None:
        return "someone"
    first, last = (user.first_name or "").strip(), (user.last_name or "").strip()
    if last:
        return f"{first[:1]}. {last}" if first else last
    return user.get_username()


def _headline_detail(kind: str, evidence: dict, now: datetime) -> str:
    if kind == "grade4_predicted" and evidence.get("window_passed"):
        return "(nadir window passed without a count)"
    if kind == "grade4_predicted" and evidence.get("nadir_at"):
        return _day(parse_moment(evidence["nadir_at"]), now)
    if kind in ("grade4_observed", "grade3_observed") and evidence.get("anc_1e9_per_l") is not None:
        latest = evidence.get("latest_anc_1e9_per_l")
        now_words = f", latest {_number(latest)}" if latest is not None else ""
        anc = evidence.get("anc_as_received") or _number(evidence["anc_1e9_per_l"])  # a censored one: "<0.1"
        return f"(ANC {anc}{now_words})"
    if kind == "fever_unknown_anc" and evidence.get("late_fever"):
        hours = evidence.get("entered_late_hours")
        return f"({hours} h late: phone patient now)" if hours is not None else "(phone patient now)"
    if kind == "not_ready" and evidence.get("next_day1"):
        return f"on {_day(parse_moment(evidence['next_day1']), now)}"
    return ""


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
                  _gcsf_timing_line):
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
    line = f"ANC {evidence.pop('anc_as_received', None) or _number(anc)} {ANC_UNIT}"  # a censored one: "<0.1"
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
                digits: int = 2) -> str:
    """Return "<words> <value> [at/by <moment>]" for one value of the evidence, popping what it used."""
    if evidence.get(key) is None:
        return ""
    value = evidence.pop(key)
    line = words.format(_number(value, digits))
    if evidence.get(moment_key):
        line += f" {preposition} {when(parse_moment(evidence.pop(moment_key)), now)}"
    return line


def _latest_line(evidence: dict, now: datetime) -> str:
    return _value_line(evidence, now, "latest_anc_1e9_per_l", f"Latest ANC {{}} {ANC_UNIT}", "latest_collected_at")


def _recovered_line(evidence: dict, now: datetime) -> str:
    return _value_line(evidence, now, "recovered_anc_1e9_per_l", f"Recovered: ANC {{}} {ANC_UNIT}", "recovered_at")


def _temperature_line(evidence: dict, now: datetime) -> str:
    """Return "Temperature 38.4 °C at ...; hottest 39.2 °C at ...; entered 30 h after it was taken"."""
    keys, first = ("hottest_c", "hottest_at", "entered_late_hours", "entered_at"), evidence.get("temperature_c")
    hottest, hottest_at, late_hours, entered_at = [evidence.pop(key, None) for key in keys]
    line = _value_line(evidence, now, "temperature_c", "Temperature {} °C", "taken_at", digits=1)
    if line and hottest is not None and hottest_at and Decimal(str(hottest)) > Decimal(str(first)):
        line += f"; hottest {_number(hottest, 1)} °C at {when(parse_moment(hottest_at), now)}"
    if line and late_hours is not None and entered_at:
        line += f"; entered {late_hours} h after it was taken ({when(parse_moment(entered_at), now)})"
    return line


def _forecast_low_line(evidence: dict, now: datetime) -> str:
    return _value_line(evidence, now, "predicted_lo80_1e9_per_l",
                       f"ANC forecast to fall to {{}} {ANC_UNIT} (lower 80 % bound)", "predicted_at", preposition="by")


def _p_grade4_line(evidence: dict, now: datetime) -> str:
    if evidence.get("p_grade4") is None:
        return ""
    line = f"P(grade 4) {_percent(evidence.pop('p_grade4'))}"
    if evidence.get("threshold") is not None:
        line += f" (alert from {_percent(evidence.pop('threshold'))})"
    return line


def _nadir_line(evidence: dict, now: datetime) -> str:
    if evidence.get("nadir_anc_1e9_per_l") is None:
        for key in ("nadir_anc_1e9_per_l", "nadir_interval80", "nadir_at"):
            evidence.pop(key, None)
        return ""
    line = f"Predicted nadir {_number(evidence.pop('nadir_anc_1e9_per_l'))} {ANC_UNIT}"
    interval = evidence.pop("nadir_interval80", None)
    if interval and None not in interval:
        line += f" (80 %: {_number(interval[0])} to {_number(interval[1])})"
    if evidence.get("nadir_at"):
        line += f" around {_day(parse_moment(evidence.pop('nadir_at')), now)}"
    return line


def _ready_line(evidence: dict, now: datetime) -> str:
    if not evidence.get("next_day1"):
        return ""
    line = f"Next cycle due {_day(parse_moment(evidence.pop('next_day1')), now)}"
    if evidence.get("threshold_1e9_per_l") is not None:
        line += f", needs ANC ≥ {_number(evidence.pop('threshold_1e9_per_l'))} {ANC_UNIT}"
    if evidence.get("p_ready") is not None:
        line += f"; P(ready) {_percent(evidence.pop('p_ready'))}"
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


def _window_line(evidence: dict, now: datetime) -> str:
    if not (evidence.get("window_start") and evidence.get("window_end")):
        return ""
    start, end = parse_moment(evidence.pop("window_start")), parse_moment(evidence.pop("window_end"))
    return f"Nadir window {_day(start, now)} to {_day(end, now)}"


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


# --- Words for numbers and times ------------------------------------------------------------


def when(moment: datetime, now: datetime) -> str:
    """Return a clinic-time moment as a nurse says it: "14:11 today", "09:00 yesterday", "Mon 24 Nov 09:00"."""
    local, today = timezone.localtime(moment), timezone.localtime(now).date()
    clock = f"{local:%H:%M}"
    named = {today: "today", today - timedelta(days=1): "yesterday", today + timedelta(days=1): "tomorrow"}
    if local.date() in named:
        return f"{clock} {named[local.date()]}"
    return f"{_day_of(local.date(), today)} {clock}"


def _day(moment: datetime, now: datetime) -> str:
    local, today = timezone.localtime(moment).date(), timezone.localtime(now).date()
    named = {today: "today", today - timedelta(days=1): "yesterday", today + timedelta(days=1): "tomorrow"}
    return named.get(local) or _day_of(local, today)


def _day_of(day: date, today: date) -> str:
    return f"{day:%a %d %b}" if day.year == today.year else f"{day:%a %d %b %Y}"


def since(moment: datetime | None, now: datetime) -> str:
    """Return how long ago, in minutes under an hour, hours under 2 days, else days."""
    if moment is None:
        return ""
    minutes = max(0, int((now - moment).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def parse_moment(value) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value))
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _number(value, digits: int = 2) -> str:
    # Never rounded across a clinical boundary: 0.499 is not "0.50" (issue 21 item 9).
    return clinical.number_text(value, digits)


def _percent(probability) -> str:
    return f"{round(float(probability) * 100)} %"


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

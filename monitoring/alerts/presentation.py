"""How an alert reads to a nurse: a headline in words, the next step (its evidence: evidence.py).

One mapping keyed by alert kind, with a default, so a kind added to the alert rules later still
renders sensibly (its own label, the message and generic evidence) before anyone writes its words.
Nothing here decides anything clinical: the alert rules do; this only says it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitoring import clinical
from monitoring.alerts.words import count, day_text, parse_moment, when

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
    worded: bool = True  # False: the default words; the pages show the rule's own message as what to do


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
        "What you did and what happens next", worded=False,
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
    return f"cleared {day_text(alert.cleared_at, now)}" + (f", ANC {count(anc)}" if anc is not None else "")


def in_hand_words(alert, now: datetime) -> str:
    """Return how a live acknowledged alert is in hand, in words, or "" if it is not acknowledged.

    "acknowledged 02:10 today by N. Day; antibiotics 02:40 today (30 min)", or "...; antibiotics
    not recorded" for febrile neutropenia (the time can be recorded after any acknowledgement).
    """
    if alert.acknowledged_at is None:
        return ""
    words = f"acknowledged {when(alert.acknowledged_at, now)} by {short_name(alert.acknowledged_by)}"
    if kind_text(alert.kind).asks_antibiotics:
        words += f"; {antibiotics_words(alert, now) or 'antibiotics not recorded'}"
    return words


def antibiotics_words(alert, now: datetime) -> str:
    """Return "antibiotics 02:40 today (30 min after the fever)", or "" if no antibiotic time is recorded.

    A worse alert that replaced one in hand carries its antibiotic time before anyone acknowledges it.
    """
    given = getattr(alert, "antibiotics_given_at", None)
    if given is None:
        return ""
    # From the fever that raised it, as the alert quality page measures it (else from the alert).
    fever_at = (alert.evidence or {}).get("taken_at")
    start = parse_moment(fever_at) if fever_at else alert.raised_at
    minutes = max(0, int((given - start).total_seconds() // 60))
    return f"antibiotics {when(given, now)} ({minutes} min after the fever)"


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
        return day_text(parse_moment(evidence["nadir_at"]), now)
    if kind in ("grade4_observed", "grade3_observed") and evidence.get("anc_1e9_per_l") is not None:
        latest = evidence.get("latest_anc_as_received") or evidence.get("latest_anc_1e9_per_l")
        now_words = f", latest {count(latest)}" if latest is not None else ""  # count() keeps "<0.1" as it is
        anc = evidence.get("anc_as_received") or count(evidence["anc_1e9_per_l"])  # a censored one: "<0.1"
        return f"(ANC {anc}{now_words})"
    if kind == "fever_unknown_anc" and evidence.get("late_fever"):
        hours = evidence.get("entered_late_hours")
        return f"({hours} h late: phone patient now)" if hours is not None else "(phone patient now)"
    if kind == "not_ready" and evidence.get("next_day1"):
        return f"on {day_text(parse_moment(evidence['next_day1']), now)}"
    return ""

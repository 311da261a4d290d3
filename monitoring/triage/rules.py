"""The triage outcome rule, pure (no Django): grades in, outcome out. Thresholds in monitoring.clinical."""

from __future__ import annotations

from decimal import Decimal

from monitoring import clinical

GREEN, AMBER, RED = "green", "amber", "red"
ASSESS_NOW, CALL_BACK, ADVICE = "assess_now", "call_back", "advice"
FEVER_ROW = "fever"


def outcome(grades: list[str]) -> str:
    """Return assess_now for one red or two ambers, call_back for one amber, else advice."""
    ambers = grades.count(AMBER)
    if RED in grades or ambers >= clinical.TRIAGE_AMBERS_FOR_ASSESSMENT:
        return ASSESS_NOW
    if ambers:
        return CALL_BACK
    return ADVICE


def fever_grade(temperature_c: Decimal | None) -> str | None:
    """Return the grade a temperature taken on the call forces on the fever row (red or nothing)."""
    if temperature_c is None:
        return None
    if (temperature_c >= clinical.TRIAGE_RED_TEMPERATURE_AT_OR_ABOVE_C
            or temperature_c <= clinical.TRIAGE_RED_TEMPERATURE_AT_OR_BELOW_C):
        return RED
    return None


def worst(*grades: str | None) -> str:
    """Return the worst of the grades given (None ignored; green if none)."""
    order = [GREEN, AMBER, RED]
    return max((g for g in grades if g), key=order.index, default=GREEN)

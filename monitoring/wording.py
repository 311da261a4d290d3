"""Words for people: what the forecast's caveats and the next-cycle readiness mean, said plainly.

The forecasting kernel writes its caveats for engineers ("effective sample size 17"); a nurse
needs what they mean for the patient in front of her. Nothing here decides anything clinical.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

# A caveat the kernel writes -> the sentence a nurse reads (None: not worth her attention).
_NOTES: list[tuple[re.Pattern, str | None]] = [
    (re.compile(r"^the counts fit the model poorly"),
     "This patient's counts differ from the usual pattern for this regimen, so the range is wide: "
     "trust the measured counts over the forecast."),
    (re.compile(r"^no counts yet"),
     "No counts in this cycle yet: the forecast is what is usual for this regimen."),
    (re.compile(r"^regimen prior learned from (\d+) patients"),
     r"Based on the counts of \1 earlier patients on this regimen."),
    (re.compile(r"^G-CSF was given in earlier cycles but none is recorded for this cycle"),
     "G-CSF was given in earlier cycles but none is recorded in this one; the forecast assumes none."),
    (re.compile(r"^no dose recorded for day (\d+) of the forecast cycle"),
     r"No chemotherapy recorded for day \1 yet; the forecast assumes it is given as planned."),
    (re.compile(r"count\(s\) after as_of were ignored"), None),
]


def forecast_notes(warnings: list[str] | None) -> list[str]:
    """Return the forecast's caveats as sentences for a nurse, each once, internal ones left out."""
    notes: list[str] = []
    for warning in warnings or []:
        note = _note(str(warning))
        if note and note not in notes:
            notes.append(note)
    return notes


def _note(warning: str) -> str | None:
    for pattern, words in _NOTES:
        match = pattern.search(warning)
        if match:
            return match.expand(words) if words else None
    return warning[:1].upper() + warning[1:]


# How sure the forecast must be before "likely" or "unlikely" is said; in between it gives the chance.
LIKELY = 0.9
UNLIKELY = 0.2


@dataclass(frozen=True)
class Readiness:
    """The next cycle's readiness in words: a short phrase, and whether it needs attention."""

    words: str
    concern: bool


def readiness(p_ready: float | None, after_febrile_neutropenia: bool = False) -> Readiness | None:
    """Return whether the ANC will be high enough for the next cycle, in words ("likely ready").

    After febrile neutropenia the next cycle waits for the oncologist whatever the count forecast
    says (a "ready 100 %" beside an FN alert misleads).
    """
    if after_febrile_neutropenia:
        return Readiness("Oncologist review after febrile neutropenia", True)
    if p_ready is None:
        return None
    if p_ready >= LIKELY:
        return Readiness("Likely ready", False)
    if p_ready <= UNLIKELY:
        return Readiness("Unlikely to be ready", True)
    return Readiness(f"Uncertain ({round(p_ready * 100)} % chance)", True)


# Units as the rules and importers write them -> as people write them.
_UNITS = [("x10^9/L", "×10⁹/L"), ("10^9/L", "10⁹/L"), ("x10^3/uL", "×10³/µL"), ("10*3/uL", "10³/µL"),
          ("cells/uL", "cells/µL"), (" K/uL", " ×10³/µL")]


def people_units(text: str) -> str:
    """Return `text` with units written as people write them ("×10⁹/L", not "x10^9/L")."""
    for written, said in _UNITS:
        text = text.replace(written, said)
    return text


def next_fbc(day_text: str, overdue: bool) -> str:
    """Return the forecast's next-FBC advice: "next FBC: Thu 3 Dec", or, its day gone by without a
    count (a count would have made a new forecast), "next FBC overdue (due Thu 3 Dec)"."""
    return f"next FBC overdue (due {day_text})" if overdue else f"next FBC: {day_text}"


def percent(probability, space: str = "\u00a0") -> str:
    """Return a probability as a whole percentage, never rounded across an alert threshold.

    0.712 -> "71 %"; but 0.196 -> "19.6 %" where "grade 4 predicted" needs 20 %: "20 %" with no
    alert beside "alert from 20 %" read as a missed alert. The thresholds are the clinic's settings
    (GRADE4_PREDICTED_THRESHOLD and its clear threshold, NOT_READY_PROBABILITY), as numbers on
    screen are never rounded across a grade (clinical.number_text).
    """
    config = settings.NEUTROWATCH
    bounds = [Decimal(str(config[key])) * 100 for key in
              ("GRADE4_PREDICTED_THRESHOLD", "GRADE4_PREDICTED_CLEAR_THRESHOLD", "NOT_READY_PROBABILITY")]
    value = Decimal(str(float(probability))) * 100
    for places in (0, 1, 2):
        shown = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if not any((value < bound) != (shown < bound) for bound in bounds):
            return f"{shown:f}{space}%"
    return f"{value.normalize():f}{space}%"

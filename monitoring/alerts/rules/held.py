"""A count kept for review (the exceptions queue), not stored: still graded, and alerted."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from monitoring import clinical
from monitoring.alerts.rules.facts import HELD_RESULT, HIGH, Finding


@dataclass(frozen=True)
class HeldCount:
    """A count of a known patient kept in the exceptions queue, graded from its values as received."""

    exception_id: int
    anc_1e9_per_l: Decimal
    collected_at: str  # as received: the time may be what kept it (e.g. the hour the clocks go back)
    problems: str



def held_result(held: list[HeldCount]) -> Finding | None:
    """Rule 8: a count of grade 3 or 4 kept for review instead of stored [high].

    A value held back (a re-sent accession with another value but no corrected status, a likely
    unit slip, an ambiguous local time) may be right: if it is, nobody would know until someone
    opened the queue. High, not critical: the value may be the mistake that held it.
    """
    severe = [h for h in held if h.anc_1e9_per_l < clinical.GRADE3_BELOW]
    if not severe:
        return None
    worst = min(severe, key=lambda h: (h.anc_1e9_per_l, h.exception_id))
    grade = clinical.ctcae_grade(worst.anc_1e9_per_l)
    others = f" ({len(severe) - 1} more held)" if len(severe) > 1 else ""
    message = (f"A count is held for review, not stored: ANC {worst.anc_1e9_per_l} x10^9/L (grade {grade} if it "
               f"is right), collected {worst.collected_at or 'at a time not read'}{others}. Held because: "
               f"{worst.problems.rstrip('.')}. Open it in the exceptions queue "
               f"(/import/exceptions/{worst.exception_id}/): store it if it is right, or dismiss it with a reason.")
    evidence = {"exception_id": worst.exception_id, "anc_1e9_per_l": str(worst.anc_1e9_per_l),
                "held": sorted(h.exception_id for h in severe)}
    return Finding(HELD_RESULT, HIGH, message, evidence)


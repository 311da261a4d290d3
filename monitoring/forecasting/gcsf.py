"""G-CSF schedules as the trials and the label give them, shared by the priors, outlook and scenarios.

Pegfilgrastim 6 mg once, on day 2 (24 h after chemotherapy, Vogel 2005, Kosaka 2015); an on-body
injector applied on day 1 delivers it about 27 h after application; filgrastim 5 ug/kg daily from
day 3, here for 8 days (days 3-10, as in the forecast cohorts; trials ran it 7-14 days or until
recovery). G-CSF is never given within 24 h of the end of chemotherapy (the label).
"""

from __future__ import annotations

HOURS_PER_DAY = 24.0
PEG_DAY2_H = 24.0
ON_BODY_INJECTOR_H = 27.0
FILGRASTIM_FIRST_DAY = 3
FILGRASTIM_DAYS = 8
GCSF_CHOICES = ("none", "peg", "filgrastim")


def gcsf_plan(gcsf: str, day1_h: float = 0.0, infusion_h: float = 0.0) -> tuple[list[float], list[str]]:
    """Return G-CSF times (hours) and products for a cycle whose day-1 dose is at ``day1_h``.

    ``gcsf``: "none", "peg" (day 2), "peg-onbody" (on-body injector, day 1) or "filgrastim" (days 3-10).
    After a 46 h pump, G-CSF starts 24 h after the pump ends.
    """
    earliest = day1_h + infusion_h + HOURS_PER_DAY
    if gcsf == "none":
        return [], []
    if gcsf == "peg":
        return [max(day1_h + PEG_DAY2_H, earliest)], ["pegfilgrastim"]
    if gcsf == "peg-onbody":
        return [max(day1_h + ON_BODY_INJECTOR_H, earliest)], ["pegfilgrastim"]
    if gcsf == "filgrastim":
        first = max(day1_h + (FILGRASTIM_FIRST_DAY - 1) * HOURS_PER_DAY, earliest)
        return [first + day * HOURS_PER_DAY for day in range(FILGRASTIM_DAYS)], ["filgrastim"] * FILGRASTIM_DAYS
    raise ValueError(f"unknown G-CSF choice {gcsf!r}; expected one of none, peg, peg-onbody, filgrastim")

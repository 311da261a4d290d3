"""A what-if scenario applied as the plan of a cycle not yet over (an oncologist's action, issue 23).

"Pegfilgrastim day 2" and "Filgrastim days 3-10" record the cycle's planned G-CSF; the reduced dose
sets its planned dose level (the regimen's label step, or 80 %); "One-week delay" moves its planned
day 1 a week later (and the later cycles with it, as any delay does). Each is a save of the cycle, so
it is in the cycle's history with who applied it and why; the forecast reads the plan
(`selectors.forecast_history`) and is recomputed on commit.

Applied once: the form carries the cycle's history id as it was when the table was made (its
stamp). Under the cycle's row lock, a stamp that is no longer the latest means someone changed the
cycle since: if the change is this very scenario (a double click, a second tab), nothing more is
done; otherwise the oncologist is told the cycle has moved on and sees the new plan first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from monitoring.forecasting.gcsf import gcsf_plan
from monitoring.forecasts.inputs import mark_inputs_changed
from monitoring.models import Cycle, GcsfDose
from monitoring.models.care import current_cycle_of
from monitoring.treatment.courses import delay_cycle

APPLICABLE = ("peg_day2", "filgrastim", "dose_80", "delay_1w")
PLANNED_GCSF = {"peg_day2": Cycle.PlannedGcsf.PEG_DAY2, "filgrastim": Cycle.PlannedGcsf.FILGRASTIM}
REDUCED_DOSE = Decimal("0.80")
ONE_WEEK = timedelta(days=7)
# A planned G-CSF can still be applied to a cycle already given until a day after its first dose is due.
GCSF_GRACE = timedelta(days=1)


class PlanMovedOn(Exception):
    """The cycle changed since the scenario was shown (given, delayed, re-planned): nothing was applied."""


@dataclass(frozen=True)
class PlanChange:
    """What applying a scenario to a cycle would set, in words (the confirm step shows it)."""

    key: str
    cycle: Cycle
    words: str


def reduced_dose(cycle: Cycle) -> tuple[Decimal, str]:
    """Return the cycle's reduced dose level and its words: the regimen's label step, else 80 %."""
    regimen = cycle.course.regimen
    if regimen.label_dose_step is not None and regimen.label_dose_step_dose:
        step = regimen.label_dose_step
        return step, f"{regimen.label_dose_step_dose} (label step, {step * 100:.0f} %)"
    return REDUCED_DOSE, "80 % of the full dose"


def plan_stamp(cycle: Cycle) -> int:
    """Return the id of the cycle's latest history row: any change to its plan makes a new one."""
    latest = cycle.history.order_by("-history_id").values_list("history_id", flat=True).first()
    return latest or 0


def describe(cycle: Cycle, key: str) -> PlanChange:
    """Return what applying scenario `key` to `cycle` would set. Raise ValueError for an unknown key."""
    if key not in APPLICABLE:
        raise ValueError(f"not a scenario that can be applied: {key!r}")
    when = f"{timezone.localtime(cycle.planned_day1):%a %d %b %Y}"
    if key in PLANNED_GCSF:
        words = f"Plan {PLANNED_GCSF[key].label.lower()} for cycle {cycle.number}."
    elif key == "dose_80":
        words = f"Plan cycle {cycle.number} at {reduced_dose(cycle)[1]}."
    else:
        moved = timezone.localtime(cycle.planned_day1 + ONE_WEEK)
        words = (f"Move cycle {cycle.number}'s day 1 from {when} to {moved:%a %d %b %Y}; "
                 "later planned cycles move with it.")
    return PlanChange(key=key, cycle=cycle, words=words)


def apply_scenario(cycle: Cycle, key: str, *, stamp: int, current_id: int, user, now: datetime | None = None) -> bool:
    """Apply scenario `key` as `cycle`'s plan; return False if this scenario was already applied.

    `stamp`: plan_stamp(cycle) when the table was made; `current_id`: the current cycle the table
    was made for. Raise PlanMovedOn (nothing written) if the cycle changed since in another way,
    is no longer the current cycle or the one after it, or can no longer take this plan.
    """
    change = describe(cycle, key)
    now = now or timezone.now()
    with transaction.atomic():
        locked = (Cycle.objects.select_for_update(of=("self",)).select_related("course__regimen", "course__patient")
                  .get(pk=change.cycle.pk))
        latest = plan_stamp(locked)
        if latest != stamp:
            if _applied_since(locked, stamp, key):
                return False
            raise PlanMovedOn(f"Cycle {locked.number} has changed since the table was made: look at its plan "
                              "and the new forecast, then choose again.")
        _check_still_open(locked, key, current_id, now)
        locked._change_reason = f"What-if applied: {key}"  # simple_history keeps it with the row
        locked._history_user = user
        if key == "delay_1w":
            delay_cycle(locked, locked.planned_day1 + ONE_WEEK, "What-if applied: one-week delay")
            return True
        if key in PLANNED_GCSF:
            locked.planned_gcsf = PLANNED_GCSF[key]
            locked.save(update_fields=["planned_gcsf"])
        else:
            locked.planned_dose_fraction = reduced_dose(locked)[0]
            locked.save(update_fields=["planned_dose_fraction"])
        mark_inputs_changed([locked.pk])
    return True


def open_scenarios(cycle: Cycle, current_id: int, now: datetime) -> list[str]:
    """Return the scenarios that can still be applied to `cycle` (the current cycle or the next)."""
    keys = []
    for key in APPLICABLE:
        try:
            _check_still_open(cycle, key, current_id, now)
        except PlanMovedOn:
            continue
        keys.append(key)
    return keys


def _applied_since(cycle: Cycle, stamp: int, key: str) -> bool:
    """Return True if the only changes to the cycle since `stamp` are this scenario being applied."""
    reasons = set(cycle.history.filter(history_id__gt=stamp).values_list("history_change_reason", flat=True))
    return reasons == {f"What-if applied: {key}"}


def _check_still_open(cycle: Cycle, key: str, current_id: int, now: datetime) -> None:
    """Raise PlanMovedOn if `cycle` can no longer take scenario `key`."""
    course = cycle.course
    cycles = [c for c in course.cycles.select_related("course__regimen") if c.status != Cycle.Status.CANCELLED]
    current = current_cycle_of(cycles, now)
    if current is None or current.pk != current_id or not course.active:
        raise PlanMovedOn("The patient's current cycle has changed since the table was made: reload the page.")
    if cycle.pk != current.pk and not (cycle.number == current.number + 1 and cycle.course_id == current.course_id):
        raise PlanMovedOn(f"Cycle {cycle.number} is neither the current cycle nor the next one.")
    if cycle.status == Cycle.Status.CANCELLED:
        raise PlanMovedOn(f"Cycle {cycle.number} was cancelled.")
    given = cycle.actual_day1 is not None
    if key == "dose_80" and cycle.planned_dose_fraction <= reduced_dose(cycle)[0]:
        raise PlanMovedOn(f"Cycle {cycle.number} is already planned at {cycle.planned_dose_fraction * 100:.0f} % "
                          "of the full dose.")
    if key in PLANNED_GCSF and cycle.planned_gcsf == PLANNED_GCSF[key]:
        raise PlanMovedOn(f"{PLANNED_GCSF[key].label} is already planned for cycle {cycle.number}.")
    if key in ("dose_80", "delay_1w") and given:
        raise PlanMovedOn(f"Cycle {cycle.number} was given on {timezone.localtime(cycle.actual_day1):%a %d %b}: "
                          "its dose and day 1 can no longer change.")
    if key in PLANNED_GCSF:
        end = cycle.planned_next_day1
        if GcsfDose.objects.filter(patient_id=course.patient_id, given_at__gte=cycle.day1, given_at__lt=end).exists():
            raise PlanMovedOn(f"G-CSF is already recorded in cycle {cycle.number}: record further doses as given.")
        hours, _ = gcsf_plan(PLANNED_GCSF[key], infusion_h=float(course.regimen.infusion_hours))
        if given and now > cycle.day1 + timedelta(hours=hours[0]) + GCSF_GRACE:
            raise PlanMovedOn(f"The first dose of this G-CSF plan was due on "
                              f"{timezone.localtime(cycle.day1 + timedelta(hours=hours[0])):%a %d %b}: "
                              "too late to plan it for this cycle.")

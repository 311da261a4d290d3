"""No 500 from a race (issue 25 item 4): the same form sent several times at once is stored once.

A double click, impatient re-clicks or two tabs post the same form at the same moment; each post
is checked before any of them commits. Two kinds of guard answer the later posts "already recorded":

- where the database holds the record unique (a count, a patient's MRN), the insert that loses
  the race fails with a unique violation: `unless_recorded` turns it into None;
- where nothing unique stops a second copy (a course started, a cycle given or delayed), the
  write takes a row lock on the patient or the cycle first and looks again under it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from django.db import IntegrityError, transaction

from monitoring import treatment
from monitoring.models import Cycle, Patient, TreatmentCourse

T = TypeVar("T")
UNIQUE_VIOLATION = "23505"  # PostgreSQL SQLSTATE unique_violation


def is_unique_violation(exc: IntegrityError) -> bool:
    """Return True if `exc` is a unique-constraint clash (not a check or foreign-key failure)."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or getattr(exc.__cause__, "pgcode", None)
    if sqlstate is not None:
        return sqlstate == UNIQUE_VIOLATION
    return "UNIQUE constraint failed" in str(exc)  # SQLite names no code


def unless_recorded(write: Callable[..., T | None], *args, **kwargs) -> T | None:
    """Run a write; return None if a concurrent copy of the same record committed first.

    Call it outside any transaction (as views are): the failed write's own atomic block has
    rolled back, so nothing of it is left half-done.
    """
    try:
        return write(*args, **kwargs)
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        return None


def start_course_once(patient: Patient, regimen, first_day1: datetime, n_cycles: int) -> TreatmentCourse | None:
    """Start a course; None if the same regimen from the same day 1 is already the patient's active course."""
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()  # one start at a time per patient
        same = TreatmentCourse.objects.filter(patient=patient, active=True, regimen=regimen,
                                              cycles__number=1, cycles__original_planned_day1=first_day1)
        if same.exists():
            return None
        return treatment.start_course(patient, regimen, first_day1, n_cycles)


def give_cycle_once(cycle: Cycle, given_at: datetime, dose_fraction: Decimal, **kwargs) -> Cycle | None:
    """Record a cycle as given; None if it was already recorded as given."""
    with transaction.atomic():
        locked = _locked(cycle)
        if locked.actual_day1 is not None:
            return None
        return treatment.give_cycle(locked, given_at, dose_fraction, **kwargs)


def delay_cycle_once(cycle: Cycle, new_day1: datetime, reason: str) -> Cycle | None:
    """Delay a cycle; None if it was already moved to this day 1 (later cycles are shifted once)."""
    with transaction.atomic():
        locked = _locked(cycle)
        if locked.planned_day1 == new_day1 and locked.status == Cycle.Status.DELAYED:
            return None
        return treatment.delay_cycle(locked, new_day1, reason)


def _locked(cycle: Cycle) -> Cycle:
    """Return the cycle re-read under a row lock, with its course, regimen and patient."""
    locked = Cycle.objects.select_for_update(of=("self",)).select_related("course__regimen", "course__patient")
    return locked.get(pk=cycle.pk)

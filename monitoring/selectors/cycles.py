"""The patient's current cycle, found one way for every page that shows it.

The rule itself is `models.care.current_cycle_of` (which cycle of a list is current at a moment);
this module owns which list it is given: the cycles of the patient's active course (the most recently
started one, should there be two), cancelled cycles left out. The patient page, its freshness poll,
the what-if table and the FHIR risk assessments all ask `current_cycle`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Prefetch, QuerySet

from monitoring.models import Cycle, Patient, TreatmentCourse
from monitoring.models.care import current_cycle_of


def active_course(patient: Patient, cycles: QuerySet[Cycle] | None = None) -> TreatmentCourse | None:
    """Return the patient's active course, its regimen and its cycles loaded (2 queries), or None.

    `cycles` says how the cycles are read (what the caller needs beside them: a forecast, the
    administrations); each cycle's `course` is this course, so the rule reads no more.
    """
    cycles = cycles if cycles is not None else Cycle.objects.all()
    return (patient.courses.filter(active=True).select_related("regimen")
            .prefetch_related(Prefetch("cycles", queryset=cycles)).first())


def active_cycles(courses: Iterable[TreatmentCourse]) -> list[Cycle]:
    """Return the cycles of the active course among `courses` (cycles loaded), cancelled ones left out."""
    course = next((course for course in courses if course.active), None)
    if course is None:
        return []
    return [cycle for cycle in course.cycles.all() if cycle.status != Cycle.Status.CANCELLED]


def current_cycle(patient: Patient, now: datetime, *, courses: Iterable[TreatmentCourse] | None = None,
                  cycles: QuerySet[Cycle] | None = None) -> Cycle | None:
    """Return the patient's current cycle at `now`, or None (no active course, or nothing under way or due).

    `courses`: the patient's courses with their cycles already loaded, newest first (the patient
    page has them: no query); otherwise her active course is read, its cycles by `cycles`.
    """
    if courses is None:
        course = active_course(patient, cycles)
        courses = [course] if course is not None else []
    return current_cycle_of(active_cycles(courses), now)

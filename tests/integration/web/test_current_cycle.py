"""Which cycle is current: `selectors.current_cycle`, the one way the patient page, its freshness poll,
the what-if table and the FHIR risk assessments find it, picks the cycle a nurse expects on day 1,
between cycles, after the last cycle and while a cycle is delayed, and agrees with the patient page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import selectors, treatment
from monitoring.models import Cycle
from monitoring.views.whatif import _current_and_next
from tests.conftest import make_patient, start_on_regimen

pytestmark = pytest.mark.django_db

Q3W = "DOCETAXEL-75-Q3W"  # 21-day cycles


def _delayed_a_week(first: Cycle) -> None:
    second = first.course.cycles.get(number=2)
    treatment.delay_cycle(second, second.planned_day1 + timedelta(days=7), "ANC 0.9 on the planned day 1")


def _second_given(first: Cycle) -> None:
    treatment.give_cycle(first.course.cycles.get(number=2), first.actual_day1 + timedelta(days=21))


def _second_cancelled(first: Cycle) -> None:
    Cycle.objects.filter(course=first.course, number=2).update(status=Cycle.Status.CANCELLED)


# (what the nurse sees, cycle 1 given how many days ago (negative: planned ahead), given?, cycles, then, current)
SHAPES = [
    ("day 1: cycle 1 given today", 0, True, 4, None, 1),
    ("before the first cycle: cycle 1 planned in 3 days", -3, False, 4, None, 1),
    ("between cycles: day 16 of cycle 1", 15, True, 4, None, 1),
    ("cycle 2 due three days ago and not given: overdue, current", 24, True, 4, None, 2),
    ("cycle 2 delayed a week, on day 21 of cycle 1: cycle 1 still", 20, True, 4, _delayed_a_week, 1),
    ("cycle 2 delayed a week, past cycle 1's length: the delayed cycle waits as current", 23, True, 4,
     _delayed_a_week, 2),
    ("after the last cycle: cycle 2 of 2 given 39 days ago", 60, True, 2, _second_given, 2),
    ("cycle 2 cancelled: cycle 3 is next", 30, True, 4, _second_cancelled, 3),
]


@pytest.mark.parametrize(("shape", "days_ago", "give", "n_cycles", "then", "expected"), SHAPES,
                         ids=[shape[0] for shape in SHAPES])
def test_the_current_cycle_is_the_one_the_patient_page_shows(team, regimens, shape, days_ago, give, n_cycles,
                                                             then, expected):
    patient = make_patient(team, mrn="CUR1")
    first = start_on_regimen(patient, regimens[Q3W], days_ago=days_ago, n_cycles=n_cycles, give=give)
    if then is not None:
        then(first)
    now = timezone.now()

    current = selectors.current_cycle(patient, now)

    assert current is not None and current.number == expected, shape
    page = selectors.patient_page(patient, now)
    assert page.current is not None and page.current.cycle.pk == current.pk, "the patient page agrees"
    assert _current_and_next(patient, now)[0].pk == current.pk, "the what-if table agrees"


def test_no_active_course_no_current_cycle(team, regimens):
    patient = make_patient(team, mrn="CUR2")
    first = start_on_regimen(patient, regimens[Q3W], days_ago=5)
    first.course.active = False
    first.course.save()
    now = timezone.now()
    assert selectors.current_cycle(patient, now) is None
    assert selectors.patient_page(patient, now).current is None


def test_the_current_cycle_costs_two_queries_and_none_from_loaded_courses(team, regimens,
                                                                         django_assert_num_queries):
    patient = make_patient(team, mrn="CUR3")
    start_on_regimen(patient, regimens[Q3W], days_ago=24)
    now = timezone.now()
    with django_assert_num_queries(2):  # the active course with its regimen, then its cycles
        cycle = selectors.current_cycle(patient, now)
        assert cycle.number == 2 and cycle.planned_next_day1 > now  # reads the regimen: no third query
    course = selectors.active_course(patient)
    with django_assert_num_queries(0):
        assert selectors.current_cycle(patient, now, courses=[course]).pk == cycle.pk

"""The ward tells the present: what was saved is on the next ward request, and its fast read path
(tuples, only the current cycle made an object: selectors/ward.py) picks the cycle the one
definition (`models.care.current_cycle_of`) picks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import forecasts, selectors, treatment
from monitoring.alerts import lifecycle
from monitoring.models import Alert, Cycle
from monitoring.models.care import current_cycle_of
from tests.conftest import make_patient, start_on_regimen
from tests.story import add_count

pytestmark = pytest.mark.django_db


def _row(html: str, patient_id: int) -> str:
    rows = (row.split("</tr>")[0] for row in html.split('<tr class="risk-row')[1:])
    return next(row for row in rows if f'data-patient="{patient_id}"' in row)


def test_a_saved_count_its_alert_and_its_acknowledgement_are_on_the_next_ward_request(
        client, nurse, team, regimens):
    patient = make_patient(team, mrn="NOW1", family_name="Present")
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    add_count(patient, timezone.now() - timedelta(days=2), "3.10")
    forecasts.recompute_cycle(cycle.pk)
    client.force_login(nurse)
    before = _row(client.get(reverse("ward")).content.decode(), patient.pk)
    # (Docetaxel 75 reaches grade 4 in most patients, so "Grade 4 predicted" may lead already.)
    assert "<strong>3.1</strong>" in before and "Out of date" not in before and "Grade 4 observed" not in before

    add_count(patient, timezone.now() - timedelta(minutes=5), "0.30")  # grade 4: an alert at save time
    row = _row(client.get(reverse("ward")).content.decode(), patient.pk)
    assert "<strong>0.3</strong>" in row and "trend-falling" in row and "Grade 4" in row
    assert "risk-high" in row.split(">")[0]
    assert "<strong>Grade 4 observed" in row and 'ack-one' in row, "the alert raised at save time leads"
    assert 'data-state="stale"' in row and "Out of date" in row, "the forecast made before the count says so"

    alert = Alert.objects.get(patient=patient, resolved_at__isnull=True, kind=Alert.Kind.GRADE4_OBSERVED)
    assert lifecycle.acknowledge_alert(alert.pk, nurse, "repeat FBC booked")
    row = _row(client.get(reverse("ward")).content.decode(), patient.pk)
    assert f'data-in-hand="{alert.pk}"' in row and 'ack-one' not in row

    forecasts.recompute_cycle(cycle.pk)  # what the worker does
    row = _row(client.get(reverse("ward")).content.decode(), patient.pk)
    assert "Out of date" not in row and "forecast updating" not in row


def _shapes(team, regimen, now):
    """Patients whose current cycle takes each branch of `current_cycle_of`; return them."""
    given_now = make_patient(team, mrn="S1", family_name="Given")
    start_on_regimen(given_now, regimen, days_ago=6)
    overdue = make_patient(team, mrn="S2", family_name="Overdue")  # cycle 2 due 5 days ago, not given
    start_on_regimen(overdue, regimen, days_ago=26)
    not_started = make_patient(team, mrn="S3", family_name="Waiting")  # cycle 1 planned in 3 days
    start_on_regimen(not_started, regimen, days_ago=-3, give=False)
    delayed = make_patient(team, mrn="S4", family_name="Delayed")  # cycle 2 delayed a week
    first = start_on_regimen(delayed, regimen, days_ago=20)
    second = first.course.cycles.get(number=2)
    treatment.delay_cycle(second, second.planned_day1 + timedelta(days=7), "ANC 0.9 on the planned day 1")
    cancelled = make_patient(team, mrn="S5", family_name="Cancelled")  # cycle 2 cancelled: cycle 3 waits
    first = start_on_regimen(cancelled, regimen, days_ago=30)
    Cycle.objects.filter(course=first.course, number=2).update(status=Cycle.Status.CANCELLED)
    second_course = make_patient(team, mrn="S6", family_name="Twice")  # an old course ended, a new one started
    old = start_on_regimen(second_course, regimen, days_ago=90)
    old.course.active = False
    old.course.save()
    start_on_regimen(second_course, regimen, days_ago=2)
    given_in_time = make_patient(team, mrn="S7", family_name="Ontime")  # cycles 1 and 2 given, 3 planned
    first = start_on_regimen(given_in_time, regimen, days_ago=23)
    treatment.give_cycle(first.course.cycles.get(number=2), now - timedelta(days=2))
    return [given_now, overdue, not_started, delayed, cancelled, second_course, given_in_time]


def test_the_ward_picks_the_current_cycle_the_one_definition_picks(nurse, team, regimens):
    now = timezone.now()
    patients = _shapes(team, regimens["DOCETAXEL-75-Q3W"], now)
    rows = {row.patient.pk: row for row in selectors.ward_rows(nurse, selectors.WardFilters(), now)}
    for patient in patients:
        course = patient.courses.filter(active=True).order_by("-started_on").first()
        cycles = list(course.cycles.exclude(status=Cycle.Status.CANCELLED).select_related("course__regimen"))
        expected = current_cycle_of(cycles, now)
        row = rows[patient.pk]
        assert (row.cycle.pk, row.cycle_day) == (expected.pk, expected.cycle_day(now)), patient.family_name
    assert {rows[p.pk].cycle.number for p in patients} >= {1, 2, 3}, "the shapes reach past cycle 1"

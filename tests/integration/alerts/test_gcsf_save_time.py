"""Issue 21, item 8: G-CSF timing at save time. Pegfilgrastim recorded less than 14 days (12 every 2 weeks)
before the next PLANNED day 1 is flagged when it is recorded and on the record-given form; an on-body injector
is judged on its delivery (about 27 h after it is applied); "not indicated" or "declined" is recorded once per
course with a reason (audited) and stops "G-CSF not given". No worker."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import alerts, clinical, records, treatment
from monitoring.models import Alert, GcsfDecision, GcsfDose
from monitoring.models.results import Source
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


def peg(patient, given_at, route=GcsfDose.Route.SC, source=Source.MANUAL):
    return records.record_gcsf(patient, product=clinical.PEGFILGRASTIM, dose=Decimal("6"), dose_unit="mg",
                               route=route, given_at=given_at, source=source)


def timing(patient):
    return Alert.objects.filter(patient=patient, kind=Alert.Kind.GCSF_TIMING, resolved_at__isnull=True)


def test_pegfilgrastim_10_days_before_a_planned_2_weekly_cycle_is_flagged_when_recorded(
        nurse_client, patient, regimens):
    # Dose-dense AC every 14 days: cycle 1 given 4 days ago, cycle 2 planned in 10 days.
    cycle1 = start_on_regimen(patient, regimens["DDAC-Q2W"], days_ago=4)
    response = nurse_client.post(f"/patients/{patient.pk}/gcsf/new/", {
        "product_name": "pegfilgrastim", "dose": "6", "dose_unit": "mg", "route": "SC",
        "given_at": timezone.localtime(timezone.now() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302, response.content.decode()[:500]
    alert = timing(patient).get()
    assert alert.cycle == cycle1 and alert.evidence["chemo_planned"] is True
    assert "before the next planned chemotherapy" in alert.message and "at least 12 days" in alert.message
    # And the record-given form says so before cycle 2 is given.
    cycle2 = cycle1.course.cycles.get(number=2)
    page = nurse_client.get(reverse("cycle_give", args=[cycle2.pk])).content.decode()
    assert "Pegfilgrastim was given" in page and "the label asks for at least 12 days" in page


def test_an_on_body_injector_applied_on_day_1_is_not_mistimed(patient, regimens):
    cycle1 = start_on_regimen(patient, regimens["TAC-Q3W"], days_ago=0.5)
    peg(patient, cycle1.day1 + timedelta(hours=2), route=GcsfDose.Route.OBI)
    assert not timing(patient).exists()
    other = start_on_regimen(patient, regimens["TAC-Q3W"], days_ago=0.5)  # a new course, by hand this time
    peg(patient, other.day1 + timedelta(hours=3))
    assert timing(patient).exists()


def test_gcsf_not_given_is_due_at_72h_and_a_recorded_decision_stops_it(nurse_client, patient, regimens, eager):
    cycle1 = start_on_regimen(patient, regimens["TAC-Q3W"], days_ago=2)
    alerts.sweep(timezone.now())
    assert not Alert.objects.filter(cycle=cycle1, kind=Alert.Kind.GCSF_NOT_GIVEN).exists()  # 48 h: not yet
    alerts.evaluate_alerts(cycle1.pk, timezone.now() + timedelta(hours=25))
    alert = Alert.objects.get(cycle=cycle1, kind=Alert.Kind.GCSF_NOT_GIVEN, resolved_at__isnull=True)
    assert "72 h after the last chemotherapy dose" in alert.message
    url = reverse("gcsf_decision", args=[cycle1.course.pk])
    assert nurse_client.post(url, {"decision": "declined", "reason": ""}).status_code == 200  # a reason is required
    response = nurse_client.post(url, {"decision": "declined", "reason": "Patient declined after discussion, Dr Shah"})
    assert response.status_code == 302
    decision = GcsfDecision.objects.get(course=cycle1.course)
    assert decision.history.count() == 1 and decision.recorded_by.username == "nurse"
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    # It stays quiet for the later cycles of the course, and can be recorded only once.
    alerts.evaluate_alerts(cycle1.pk, timezone.now() + timedelta(days=2))
    assert not Alert.objects.filter(cycle=cycle1, kind=Alert.Kind.GCSF_NOT_GIVEN, resolved_at__isnull=True).exists()
    with pytest.raises(ValueError):
        treatment.record_gcsf_decision(cycle1.course, "not_indicated", "again", None)
    assert "G-CSF: declined by the patient" in nurse_client.get(f"/patients/{patient.pk}/").content.decode()

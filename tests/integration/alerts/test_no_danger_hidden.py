"""No danger hidden after an alert is raised (safety review): what happens to a patient after an alert is
raised, acknowledged, held or over is still alerted. Over the real write paths, no worker."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import alerts, clinical, records, treatment
from monitoring.labfeed import exceptions_queue, importers
from monitoring.models import Alert, Cycle, ImportException
from monitoring.models.results import Source
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


def count(patient, anc: str, hours_ago: float, accession: str = ""):
    return records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L", anc=Decimal(anc),
        accession=accession))


def fever(patient, celsius: str, hours_ago: float = 0.5):
    return records.record_temperature(patient, taken_at=timezone.now() - timedelta(hours=hours_ago),
                                      temperature_c=Decimal(celsius), entered_value=celsius)


def live(patient, kind):
    return Alert.objects.filter(patient=patient, kind=kind, resolved_at__isnull=True)


def test_an_acknowledged_grade_4_whose_patient_then_has_a_fever_raises_febrile_neutropenia(patient, cycle, nurse):
    count(patient, "0.3", hours_ago=3)
    grade4 = live(patient, Alert.Kind.GRADE4_OBSERVED).get()
    alerts.acknowledge_alert(grade4.pk, nurse, "phoned, well")
    fever(patient, "38.6")
    fn = live(patient, Alert.Kind.FEBRILE_NEUTROPENIA).get()
    assert fn.severity == Alert.Severity.CRITICAL and fn.acknowledged_at is None


def test_an_acknowledged_fever_with_a_normal_count_then_a_grade_4_count_is_febrile_neutropenia(patient, cycle, nurse):
    count(patient, "2.0", hours_ago=3)
    fever(patient, "38.6", hours_ago=1)
    [first] = Alert.objects.filter(patient=patient, resolved_at__isnull=True)
    alerts.acknowledge_alert(first.pk, nurse, "antibiotics not needed, count normal")
    count(patient, "0.2", hours_ago=0.2)
    fn = live(patient, Alert.Kind.FEBRILE_NEUTROPENIA).get()
    assert fn.acknowledged_at is None and fn.severity == Alert.Severity.CRITICAL


def test_a_held_count_fixed_to_a_worse_value_alerts_as_that_value(patient, cycle, nurse):
    at = timezone.localtime(timezone.now() - timedelta(hours=2)).isoformat(timespec="minutes")
    importers.import_file("lab.csv", f"mrn,collected_at,anc,unit,accession\nMRN001,{at},0.9,10^9/L,H-1\n",
                          source=Source.IMPORT)
    importers.import_file("lab.csv", f"mrn,collected_at,anc,unit,accession\nMRN001,{at},0.7,10^9/L,H-1\n",
                          source=Source.IMPORT)  # a conflict: held, grade 3 under every reading
    assert live(patient, Alert.Kind.HELD_RESULT).get().severity == Alert.Severity.HIGH
    kept = ImportException.objects.get()
    outcome = exceptions_queue.fix(kept.pk, {**kept.values, "anc": "0.05", "status": "corrected"}, nurse)
    assert outcome.done, outcome.message
    assert not live(patient, Alert.Kind.HELD_RESULT).exists()
    grade4 = live(patient, Alert.Kind.GRADE4_OBSERVED).get()
    assert grade4.severity == Alert.Severity.CRITICAL and "0.05" in (grade4.latest_message or grade4.message)


def test_a_grade_4_count_after_the_next_cycle_was_cancelled_is_alerted(patient, regimens):
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=30)
    Cycle.objects.filter(course=cycle1.course, number__gte=2).update(status=Cycle.Status.CANCELLED)
    count(patient, "0.2", hours_ago=1)
    assert live(patient, Alert.Kind.GRADE4_OBSERVED).get().severity == Alert.Severity.CRITICAL


def test_a_grade_4_count_after_the_course_ended_is_alerted(patient, regimens):
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=20)
    course = cycle1.course
    course.active = False
    course.save()
    count(patient, "0.2", hours_ago=1)
    assert live(patient, Alert.Kind.GRADE4_OBSERVED).get().severity == Alert.Severity.CRITICAL


def test_a_late_grade_4_count_of_a_past_cycle_is_alerted_though_the_current_cycle_is_fine(patient, regimens):
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=25)
    cycle2 = cycle1.course.cycles.get(number=2)
    count(patient, "2.1", hours_ago=100)  # pre-dose
    treatment.give_cycle(cycle2, timezone.now() - timedelta(days=4), Decimal("1.00"))
    count(patient, "3.0", hours_ago=2)
    count(patient, "0.08", hours_ago=24 * 12)  # day 14 of cycle 1, arriving late
    past = live(patient, Alert.Kind.GRADE4_OBSERVED).get()
    assert past.cycle_id == cycle1.pk and past.severity == Alert.Severity.CRITICAL


def test_a_fahrenheit_temperature_from_the_form_is_a_fever(nurse_client, patient, cycle):
    from django.urls import reverse

    count(patient, "0.3", hours_ago=3)
    when = timezone.localtime(timezone.now() - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M")
    response = nurse_client.post(reverse("temperature_new", args=[patient.pk]),
                                 {"taken_at": when, "value": "101.3", "unit": "F", "site": "oral"})
    assert response.status_code == 302
    assert live(patient, Alert.Kind.FEBRILE_NEUTROPENIA).exists()


def test_a_fahrenheit_temperature_from_hl7_is_a_fever(patient, cycle):
    count(patient, "0.3", hours_ago=3)
    moment = timezone.localtime(timezone.now() - timedelta(minutes=20)).strftime("%Y%m%d%H%M%z")
    text = "\r".join([f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{moment}||ORU^R01|T-1|P|2.5.1", "PID|1||MRN001^^^HOSP^MR",
                      f"OBR|1||T-ACC||||{moment}", "OBX|1|NM|8310-5^Body temperature^LN||101.3|[degF]|||||F"]) + "\r"
    report = importers.import_file("t.hl7", text.encode(), source=Source.MLLP, fmt="hl7")
    assert report.ok, report.problems
    assert live(patient, Alert.Kind.FEBRILE_NEUTROPENIA).exists()


def test_a_patient_made_inactive_whose_grade_4_alert_is_live_then_has_a_fever_raises_febrile_neutropenia(
        patient, cycle):
    # Made inactive (moved to another service, say) while her course is still recorded as active: her results
    # still arrive and a grade 4 count is still alerted; a fever on top of it must be too, as it is once her
    # course is ended.
    patient.active = False
    patient.save()
    count(patient, "0.2", hours_ago=2)
    assert live(patient, Alert.Kind.GRADE4_OBSERVED).exists()
    fever(patient, "38.6")
    assert live(patient, Alert.Kind.FEBRILE_NEUTROPENIA).get().severity == Alert.Severity.CRITICAL


def test_a_patient_whose_course_ended_with_a_grade_4_then_a_fever_raises_febrile_neutropenia(patient, cycle):
    course = cycle.course
    course.active = False
    course.save()
    count(patient, "0.2", hours_ago=2)
    fever(patient, "38.6")
    assert live(patient, Alert.Kind.FEBRILE_NEUTROPENIA).get().severity == Alert.Severity.CRITICAL

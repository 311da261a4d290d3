"""Telephone triage calls through the real write paths (PostgreSQL and SQLite)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import alerts, clinical, records, treatment
from monitoring.models import Alert, TemperatureReading, TriageCall
from monitoring.triage import calls
from monitoring.triage.defaults import DEFAULT_TABLE
from tests.integration.triage.symptoms import load_triage_table
from tests.story import raise_alert

pytestmark = pytest.mark.django_db




@pytest.fixture
def table(db):
    return load_triage_table()


def test_two_ambers_mean_assess_now_and_raise_a_critical_alert(table, patient, nurse):
    call = calls.record_call(patient, calls.CallInput(
        grades={table["Vomiting"].pk: "amber", table["Diarrhoea"].pk: "amber"}, caller="daughter",
        advice="Come to the assessment unit now"), user=nurse)
    assert call.outcome == TriageCall.Outcome.ASSESS_NOW
    alert = Alert.objects.get(patient=patient, kind=Alert.Kind.TRIAGE_RED)
    assert alert.severity == Alert.Severity.CRITICAL and call.alert == alert
    assert "Vomiting, Diarrhoea" in alert.message and "daughter" not in alert.message  # no free text goes out
    assert sorted(call.grades.values_list("grade", flat=True)).count("green") == len(DEFAULT_TABLE) - 2
    # Acknowledging it closes it (the call is over; nothing to clear later).
    alerts.acknowledge_alert(alert.pk, nurse, "Seen in the unit")
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_one_amber_means_a_call_back_within_24_hours_shown_as_a_follow_up(table, patient, nurse):
    now = timezone.now()
    call = calls.record_call(patient, calls.CallInput(grades={table["Nausea"].pk: "amber"}), user=nurse, now=now)
    assert call.outcome == TriageCall.Outcome.CALL_BACK
    assert call.follow_up_due == now + clinical.TRIAGE_CALL_BACK_WITHIN
    assert not Alert.objects.filter(patient=patient).exists()
    assert calls.open_follow_ups(nurse, now) == [call]
    assert calls.close_follow_up(call.pk, now) and calls.open_follow_ups(nurse, now) == []


def test_all_green_is_advice_only(table, patient, nurse):
    call = calls.record_call(patient, calls.CallInput(grades={}), user=nurse)
    assert call.outcome == TriageCall.Outcome.ADVICE and call.follow_up_due is None


def test_a_temperature_on_the_call_is_a_reading_and_the_fever_rules_run(table, patient, nurse, cycle):
    records.record_count(patient, clinical.parse_count(collected_at=timezone.now() - timedelta(hours=2),
                                                        unit="10^9/L", anc=Decimal("0.3")))
    call = calls.record_call(patient, calls.CallInput(grades={}, temperature_c=Decimal("38.6")), user=nurse)
    reading = TemperatureReading.objects.get(patient=patient)
    assert reading.temperature_c == Decimal("38.6") and reading.entered_by == nurse
    assert Alert.objects.filter(patient=patient, kind=Alert.Kind.FEBRILE_NEUTROPENIA).exists()
    # The table calls 37.5 C and above red: the fever row is red whatever was ticked.
    assert call.grades.get(symptom_name="Fever").grade == "red" and call.outcome == TriageCall.Outcome.ASSESS_NOW
    assert call.context["anc_1e9_per_l"] == "0.300" and call.context["regimen"]
    assert call.context["days_since_chemo"] == 5


def test_the_triage_page_reads_a_censored_latest_count_as_the_lab_gave_it(table, nurse_client, patient, cycle):
    # The patient header says "<0.1"; beside the call the nurse read the bound alone, "0.100".
    records.record_count(patient, clinical.parse_count(collected_at=timezone.now() - timedelta(hours=2),
                                                        unit="10^9/L", anc=Decimal("0.1"), qualifier="<"))
    page = nurse_client.get(reverse("triage_call", args=[patient.pk])).content.decode()
    latest = page.split("<dt>Latest ANC</dt>")[1].split("</dd>")[0]
    assert "&lt;0.1 x10^9/L" in latest and "0.100" not in latest
    header = nurse_client.get(reverse("patient", args=[patient.pk])).content.decode()
    assert "<strong>&lt;0.1</strong>" in header


def test_days_since_chemotherapy_count_calendar_days_as_the_day_of_cycle_does(table, patient, regimens):
    # Chemotherapy at 14:00 on 20 Nov, a call at 09:00 on 27 Nov: the header says "day 8" (7 days on);
    # the triage page said 6 (whole 24-hour periods), a day short of the cycle's own count.
    given = timezone.make_aware(datetime(2026, 11, 20, 14, 0))
    cycle = treatment.start_course(patient, regimens["DOCETAXEL-75-Q3W"], given, 4).cycles.get(number=1)
    treatment.give_cycle(cycle, given)
    call_at = timezone.make_aware(datetime(2026, 11, 27, 9, 0))
    assert cycle.cycle_day(call_at) == 8
    assert calls.context(patient, call_at)["days_since_chemo"] == 7


def test_beside_the_call_the_open_alerts_come_in_the_patient_pages_order(table, nurse_client, patient, cycle):
    # Febrile neutropenia first, as on the ward and the patient page: the triage page put a newer
    # critical alert first, so the one that needs antibiotics within the hour read as second.
    now = timezone.now()
    raise_alert(patient, cycle, kind=Alert.Kind.FEBRILE_NEUTROPENIA, raised_at=now - timedelta(hours=2))
    raise_alert(patient, cycle, kind=Alert.Kind.GRADE4_OBSERVED, raised_at=now - timedelta(hours=1))
    header = nurse_client.get(reverse("patient", args=[patient.pk])).content.decode()
    assert "Febrile neutropenia" in header.split('<div class="fact-alerts">')[1].split("</div>")[0]
    first, second = calls.context(patient, now)["open_alerts"]
    assert first.startswith("Critical: Febrile neutropenia suspected (cycle 1, raised ")
    assert second.startswith("Critical: Grade 4 neutropenia observed (cycle 1, raised ")


def test_a_second_red_call_renotifies_the_open_alert(table, patient, nurse):
    first = calls.record_call(patient, calls.CallInput(grades={table["Rigors"].pk: "red"}), user=nurse)
    second = calls.record_call(patient, calls.CallInput(grades={table["Bleeding or bruising"].pk: "red"}), user=nurse)
    assert first.alert == second.alert
    assert "Bleeding or bruising" in Alert.objects.get(pk=first.alert.pk).message

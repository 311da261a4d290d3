"""Alerts raised through the real write paths and services (in-process; the worker tests are in
test_pipeline.py): one alert per condition, auto-resolution, recipients, escalation, sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from monitoring import alerts, clinical, forecasts, records, treatment
from monitoring.models import Alert, Delivery, Forecast
from monitoring.transports import email
from tests.conftest import make_patient, make_user, start_on_regimen

pytestmark = pytest.mark.django_db


def anc(patient, value: str, hours_ago: float = 1, accession: str = ""):
    return records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L", anc=Decimal(value),
        accession=accession))


def live(cycle, kind=None):
    alerts = Alert.objects.filter(cycle=cycle, resolved_at__isnull=True)
    return alerts.filter(kind=kind) if kind else alerts


def test_grade4_count_raises_one_critical_alert_in_the_nurses_inbox_and_by_email(eager, cycle, patient, nurse):
    eager(anc, patient, "0.3")
    alert = live(cycle, Alert.Kind.GRADE4_OBSERVED).get()
    assert alert.severity == Alert.Severity.CRITICAL
    assert "0.300" in alert.message and alert.evidence["anc_1e9_per_l"] == "0.300"
    inapp = alert.deliveries.get(channel=Delivery.Channel.INAPP)
    assert (inapp.recipient, inapp.status) == (nurse.username, Delivery.Status.SENT)
    emails = alert.deliveries.filter(channel=Delivery.Channel.EMAIL)
    assert {e.status for e in emails} == {Delivery.Status.SENT}
    # critical: the responsible nurse and the team's escalation contact, at once
    assert sorted(m.to[0] for m in mail.outbox) == ["charge.nurse@example.org", nurse.email]
    subject = mail.outbox[0].subject
    assert "MRN001 AL" in subject and "Lovelace" not in subject and "Ada" not in subject


def test_persisting_condition_raises_no_second_alert_and_no_second_email(eager, cycle, patient):
    eager(anc, patient, "0.3", hours_ago=30)
    eager(anc, patient, "0.2", hours_ago=2)
    assert Alert.objects.filter(cycle=cycle, kind=Alert.Kind.GRADE4_OBSERVED).count() == 1
    assert len(mail.outbox) == 2  # one alert: the nurse and the escalation contact


def test_a_cleared_critical_alert_stays_open_until_acknowledged_then_a_new_episode_is_a_new_alert(
        eager, cycle, patient, nurse):
    eager(anc, patient, "0.3", hours_ago=50)
    first = live(cycle, Alert.Kind.GRADE4_OBSERVED).get()
    eager(anc, patient, "2.5", hours_ago=26)
    first.refresh_from_db()
    assert (first.resolved_at, first.acknowledged_at) == (None, None) and first.is_open
    assert first.cleared_at is not None  # "condition cleared at ..."
    assert alerts.acknowledge_alert(first.pk, nurse, "Recovered, patient well")
    first.refresh_from_db()
    assert first.resolved_at is not None
    eager(anc, patient, "0.4", hours_ago=1)
    assert Alert.objects.filter(cycle=cycle, kind=Alert.Kind.GRADE4_OBSERVED).count() == 2
    assert live(cycle, Alert.Kind.GRADE4_OBSERVED).get().pk != first.pk


def test_a_high_alert_clears_on_its_own(eager, cycle, patient):
    eager(anc, patient, "0.7", hours_ago=30)
    alert = live(cycle, Alert.Kind.GRADE3_OBSERVED).get()
    eager(anc, patient, "1.4", hours_ago=2)
    alert.refresh_from_db()
    assert alert.resolved_at is not None and alert.cleared_at is not None


def test_fever_with_low_count_raises_febrile_neutropenia(eager, cycle, patient):
    eager(anc, patient, "0.8", hours_ago=3)
    assert not live(cycle, Alert.Kind.FEBRILE_NEUTROPENIA).exists()
    eager(records.record_temperature, patient, taken_at=timezone.now() - timedelta(minutes=5),
          temperature_c=Decimal("38.4"), entered_value="38.4", entered_unit="C")
    alert = live(cycle, Alert.Kind.FEBRILE_NEUTROPENIA).get()
    assert alert.severity == Alert.Severity.CRITICAL
    assert "antibiotics within 60 minutes" in alert.message
    assert live(cycle, Alert.Kind.GRADE3_OBSERVED).exists()  # two conditions, two alerts


def test_no_responsible_nurse_notifies_every_nurse_of_the_team_only(eager, team, other_team, regimens):
    first, second = make_user("nurse_a", [team]), make_user("nurse_b", [team])
    make_user("onc", [team], role="oncologist")
    make_user("outsider", [other_team])
    unassigned = make_patient(team, mrn="MRN002")
    cycle = start_on_regimen(unassigned, regimens["DOCETAXEL-75-Q3W"])
    eager(anc, unassigned, "0.3")
    alert = live(cycle, Alert.Kind.GRADE4_OBSERVED).get()
    recipients = set(alert.deliveries.filter(channel="inapp").values_list("recipient", flat=True))
    assert recipients == {first.username, second.username}


def test_unacknowledged_critical_alert_escalates_once_to_the_charge_nurse(eager, cycle, patient):
    eager(anc, patient, "0.3")
    alert = live(cycle, Alert.Kind.GRADE4_OBSERVED).get()
    mail.outbox.clear()
    assert eager(alerts.escalate_due, timezone.now() + timedelta(minutes=29)) == 0
    assert eager(alerts.escalate_due, timezone.now() + timedelta(minutes=31)) == 1
    assert eager(alerts.escalate_due, timezone.now() + timedelta(minutes=45)) == 0
    alert.refresh_from_db()
    assert alert.escalated_at is not None
    assert [m.to for m in mail.outbox] == [["charge.nurse@example.org"]]
    assert "ESCALATED" in mail.outbox[0].subject


def test_the_escalation_email_says_when_the_alert_was_raised_in_clinic_time(eager, cycle, patient):
    # Every other time in the e-mail (and on every screen) is in clinic time; the escalation's was in UTC.
    eager(anc, patient, "0.3")
    alert = live(cycle, Alert.Kind.GRADE4_OBSERVED).get()
    assert eager(alerts.escalate_due, timezone.now() + timedelta(minutes=31)) == 1
    escalation = alert.deliveries.get(purpose=Delivery.Purpose.ESCALATE, channel=Delivery.Channel.EMAIL)
    Alert.objects.filter(pk=alert.pk).update(raised_at=datetime(2026, 7, 1, 8, 0, tzinfo=UTC))  # 09:00 in London
    escalation.refresh_from_db()
    body = email.body(escalation)
    assert "it was raised at 2026-07-01 09:00 BST." in body and "UTC" not in body


def test_acknowledging_stops_escalation(eager, cycle, patient, nurse):
    eager(anc, patient, "0.3")
    alert = live(cycle, Alert.Kind.GRADE4_OBSERVED).get()
    assert alerts.acknowledge_alert(alert.pk, nurse, "Patient called, no fever")
    mail.outbox.clear()
    assert eager(alerts.escalate_due, timezone.now() + timedelta(hours=2)) == 0
    assert mail.outbox == []
    assert not alert.deliveries.filter(purpose=Delivery.Purpose.ESCALATE).exists()


def test_high_alerts_do_not_escalate(eager, cycle, patient):
    eager(anc, patient, "0.7")
    assert live(cycle, Alert.Kind.GRADE3_OBSERVED).exists()
    assert eager(alerts.escalate_due, timezone.now() + timedelta(hours=2)) == 0


def test_sweep_raises_gcsf_due_72h_after_chemo_and_recording_gcsf_resolves_it(eager, patient, regimens):
    cycle = start_on_regimen(patient, regimens["TAC-Q3W"], days_ago=0.5)
    forecasts.recompute_cycle(cycle.pk)
    assert not live(cycle, Alert.Kind.GCSF_NOT_GIVEN).exists()
    eager(alerts.sweep, timezone.now() + timedelta(hours=13))  # 25 h after chemotherapy: not due yet
    assert not live(cycle, Alert.Kind.GCSF_NOT_GIVEN).exists()
    eager(alerts.sweep, timezone.now() + timedelta(hours=61))
    alert = live(cycle, Alert.Kind.GCSF_NOT_GIVEN).get()
    assert alert.severity == Alert.Severity.MEDIUM
    eager(records.record_gcsf, patient, product="pegfilgrastim", dose=Decimal("6"), dose_unit="mg",
          given_at=timezone.now())
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_next_cycle_given_resolves_the_old_cycles_high_alerts_but_not_an_unacknowledged_critical(
        eager, patient, regimens, team):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"])
    eager(anc, patient, "0.7")
    high = live(cycle, Alert.Kind.GRADE3_OBSERVED).get()
    other = make_patient(team, mrn="MRN002")
    other_cycle = start_on_regimen(other, regimens["DOCETAXEL-75-Q3W"])
    eager(anc, other, "0.3")
    critical = live(other_cycle, Alert.Kind.GRADE4_OBSERVED).get()
    eager(treatment.give_cycle, cycle.course.cycles.get(number=2), timezone.now())
    eager(treatment.give_cycle, other_cycle.course.cycles.get(number=2), timezone.now())
    high.refresh_from_db()
    critical.refresh_from_db()
    assert high.resolved_at is not None
    assert critical.resolved_at is None and critical.is_open


def test_same_inputs_recomputed_again_change_nothing(eager, cycle, patient):
    eager(anc, patient, "0.3")
    forecast = Forecast.objects.get(cycle=cycle)
    assert forecasts.recompute_cycle(cycle.pk).computed_at == forecast.computed_at
    assert Alert.objects.filter(cycle=cycle).count() == live(cycle).count()


def test_recompute_does_a_fixed_small_number_of_queries(eager, cycle, patient, django_assert_max_num_queries):
    for hours in (60, 40, 20, 5):
        eager(anc, patient, "2.0", hours_ago=hours)
    forecasts.mark_inputs_changed([cycle.pk])
    with django_assert_max_num_queries(20):
        forecasts.recompute_cycle(cycle.pk)

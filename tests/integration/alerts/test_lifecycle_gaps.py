"""The lifecycle gaps left as policy questions (the "safety" round): no danger hidden after an alert is raised.

Each scenario runs the real write paths and the real rules on the database, with no worker (the
save path alone must do it), on PostgreSQL and on SQLite.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import alerts, clinical, records
from monitoring.models import Alert, Delivery
from monitoring.transports import email
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


def count(patient, anc: str, hours_ago: float):
    return records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L", anc=Decimal(anc)))


def temperature(patient, celsius: str, hours_ago: float = 0.5):
    return records.record_temperature(patient, taken_at=timezone.now() - timedelta(hours=hours_ago),
                                      temperature_c=Decimal(celsius), entered_value=celsius)


def live(patient, kind) -> Alert:
    return Alert.objects.get(patient=patient, kind=kind, resolved_at__isnull=True)


# --- 3. A cleared critical nobody acknowledged ------------------------------------------------


def test_a_cleared_critical_nobody_acknowledged_still_escalates_and_its_email_says_it_cleared_unseen(
        patient, cycle):
    count(patient, "0.30", hours_ago=30)
    grade4 = live(patient, Alert.Kind.GRADE4_OBSERVED)
    count(patient, "2.10", hours_ago=2)  # recovered before anyone looked
    grade4.refresh_from_db()
    assert grade4.cleared_at is not None and grade4.acknowledged_at is None

    assert alerts.escalate_due(timezone.now() + timedelta(hours=1)) == 1

    escalation = grade4.deliveries.get(purpose=Delivery.Purpose.ESCALATE, channel=Delivery.Channel.EMAIL)
    subject, body = email.subject(escalation), email.body(escalation)
    assert "ESCALATED, not acknowledged: cleared, not seen:" in subject
    assert "no action is needed" not in body
    assert "It has since CLEARED" in body and "Nobody has acknowledged it" in body
    assert "ANC 0.300" in body or "ANC 0.30 " in body  # what happened, in the alert's own words
    assert "Still needed: make sure the patient was contacted" in body


# --- 1. A fever entered late ------------------------------------------------------------------


def test_a_fever_entered_30_hours_after_it_was_taken_raises_a_high_alert_naming_the_delay(patient, cycle):
    temperature(patient, "38.6", hours_ago=30)  # day 4 after docetaxel, no count since day 1

    alert = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    assert alert.severity == Alert.Severity.HIGH  # a telephone check now; a fever a day old is not a fever now
    assert "taken 30 h ago" in alert.message and "entered now" in alert.message
    assert "Telephone the patient now" in alert.message and "neutrophil status unknown" in alert.message
    assert alert.evidence["late_fever"] is True and alert.evidence["entered_late_hours"] == 30
    assert alert.deliveries.filter(channel=Delivery.Channel.INAPP).exists()
    assert alert.deliveries.filter(channel=Delivery.Channel.EMAIL).exists()  # high: the responsible nurse's email


def test_a_late_fever_with_a_low_last_count_names_the_count(patient, cycle):
    count(patient, "0.80", hours_ago=40)
    temperature(patient, "38.4", hours_ago=30)

    alert = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    assert "ANC 0.800 x10^9/L" in alert.message and "may still be, neutropenic" in alert.message


def test_a_late_fever_then_a_fever_now_with_a_low_count_becomes_febrile_neutropenia(patient, cycle):
    temperature(patient, "38.4", hours_ago=30)
    late = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    count(patient, "0.30", hours_ago=0.5)
    temperature(patient, "38.5", hours_ago=0.2)  # the telephone check found her febrile

    late.refresh_from_db()
    fn = live(patient, Alert.Kind.FEBRILE_NEUTROPENIA)
    assert late.superseded_by_id == fn.pk and fn.severity == Alert.Severity.CRITICAL


def test_a_clearly_historical_late_fever_is_stored_raises_nothing_and_says_why(patient, regimens):
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=10)
    temperature(patient, "36.8", hours_ago=80)
    reading = temperature(patient, "38.5", hours_ago=100)  # over 72 h old, a normal reading after it

    assert reading is not None  # stored
    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC).exists()
    reason = reading.history.order_by("-history_id").first().history_change_reason
    assert reason.startswith("Entered late, no alert: historical: over 72 h old, 36.80 °C taken after it")


def test_a_late_fever_with_a_normal_count_since_raises_nothing_and_says_why(patient, cycle):
    count(patient, "2.50", hours_ago=20)
    reading = temperature(patient, "38.5", hours_ago=30)

    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC).exists()
    reason = reading.history.order_by("-history_id").first().history_change_reason
    assert reason.startswith("Entered late, no alert: not neutropenic: ANC 2.500")


def test_a_late_fever_without_chemotherapy_in_the_window_raises_nothing(patient, regimens):
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=60, n_cycles=1)
    reading = temperature(patient, "38.5", hours_ago=30)

    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC).exists()
    assert "outside the post-chemotherapy" in (reading.history.order_by("-history_id").first().history_change_reason
                                               or "")

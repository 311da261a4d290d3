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

"""A fever after the course has ended: possible neutropenic sepsis for the post-chemotherapy fever window
after the last dose (a setting, default 6 weeks: the UKONS triage tool's scope; issue 21 item 6), raised at
save time on the patient (no cycle)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import clinical, records
from monitoring.models import Alert
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


def finished_course(patient, regimen, *, last_dose_days_ago: float):
    """Give cycle 1 `last_dose_days_ago` days ago, then end the course (no active cycle is left)."""
    cycle = start_on_regimen(patient, regimen, days_ago=last_dose_days_ago, n_cycles=1)
    cycle.course.active = False
    cycle.course.save(update_fields=["active"])
    return cycle


def fever(patient, celsius: str = "38.6"):
    records.record_temperature(patient, taken_at=timezone.now() - timedelta(minutes=10),
                                temperature_c=Decimal(celsius), entered_value=celsius, entered_unit="C")


def fever_alerts(patient):
    return list(Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC, resolved_at__isnull=True))


def test_a_fever_two_weeks_after_the_last_course_is_a_critical_alert_on_the_patient(patient, regimens):
    finished_course(patient, regimens["DOCETAXEL-75-Q3W"], last_dose_days_ago=14)
    fever(patient)
    [alert] = fever_alerts(patient)
    assert alert.cycle is None and alert.severity == Alert.Severity.CRITICAL
    assert "treat as possible neutropenic sepsis" in alert.message


def test_a_fever_after_a_recent_count_of_one_or_more_is_a_high_alert(patient, regimens):
    finished_course(patient, regimens["DOCETAXEL-75-Q3W"], last_dose_days_ago=20)
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=3), unit="10^9/L", anc=Decimal("2.4")))
    fever(patient)
    [alert] = fever_alerts(patient)
    assert alert.severity == Alert.Severity.HIGH and alert.evidence["anc_1e9_per_l"] == "2.400"


def test_no_fever_alert_past_the_window_or_without_chemotherapy(patient, other_patient, regimens, settings):
    days = settings.NEUTROWATCH["POST_CHEMO_FEVER_WINDOW_DAYS"]
    assert days == clinical.DEFAULT_POST_CHEMO_FEVER_WINDOW.days == 42
    finished_course(patient, regimens["DOCETAXEL-75-Q3W"], last_dose_days_ago=days + 1)
    fever(patient)
    fever(other_patient)  # never had chemotherapy
    assert fever_alerts(patient) == [] and fever_alerts(other_patient) == []

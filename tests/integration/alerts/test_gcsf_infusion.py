"""G-CSF after a regimen with a 46-hour 5-FU pump: "after chemotherapy" counts from the end of the pump.

Through the real write paths (start_course, give_cycle, record_gcsf) and the worker's rules
(evaluate_alerts); these tests run on PostgreSQL and on SQLite alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from monitoring import alerts, records
from monitoring.models import Alert
from tests.conftest import make_patient, start_on_regimen

pytestmark = pytest.mark.django_db


def filgrastim(patient, given_at: datetime) -> None:
    records.record_gcsf(patient, product="filgrastim", dose=Decimal("300"), dose_unit="ug", given_at=given_at)


def test_filgrastim_30h_after_the_start_of_folfox_is_flagged_at_save_time_while_the_pump_runs(patient, team,
                                                                                               regimens):
    cycle = start_on_regimen(patient, regimens["FOLFOX-Q2W"], days_ago=40 / 24)
    filgrastim(patient, cycle.day1 + timedelta(hours=30))
    alert = Alert.objects.get(cycle=cycle, kind=Alert.Kind.GCSF_TIMING)
    assert "30 h after the start of chemotherapy" in alert.message
    assert "while the 46-hour continuous infusion was still running" in alert.message
    assert datetime.fromisoformat(alert.evidence["chemo_ends_at"]) == cycle.day1 + timedelta(hours=46)
    assert datetime.fromisoformat(alert.evidence["chemo_at"]) == cycle.day1
    # The same dose after docetaxel (no infusion) is 30 h after chemotherapy: fine, as before.
    other = make_patient(team, mrn="MRN002", given_name="Bea")
    other_cycle = start_on_regimen(other, regimens["DOCETAXEL-75-Q3W"], days_ago=40 / 24)
    filgrastim(other, other_cycle.day1 + timedelta(hours=30))
    assert not Alert.objects.filter(patient=other, kind=Alert.Kind.GCSF_TIMING).exists()


def test_filgrastim_26h_after_the_folfox_pump_ends_is_not_flagged(patient, regimens):
    cycle = start_on_regimen(patient, regimens["FOLFOX-Q2W"], days_ago=4)
    filgrastim(patient, cycle.day1 + timedelta(hours=72))
    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.GCSF_TIMING).exists()


def test_folfirinox_gcsf_is_due_72h_after_the_pump_ends(patient, regimens):
    # Issue 21 item 8: due at the end of the labels' window, 72 h after the end of chemotherapy.
    cycle = start_on_regimen(patient, regimens["FOLFIRINOX-Q2W"], days_ago=4)  # high FN risk: primary prophylaxis
    assert alerts.evaluate_alerts(cycle.pk, cycle.day1 + timedelta(hours=40)) == []
    alerts.evaluate_alerts(cycle.pk, cycle.day1 + timedelta(hours=117))
    assert not Alert.objects.filter(cycle=cycle, kind=Alert.Kind.GCSF_NOT_GIVEN).exists()
    alerts.evaluate_alerts(cycle.pk, cycle.day1 + timedelta(hours=119))
    alert = Alert.objects.get(cycle=cycle, kind=Alert.Kind.GCSF_NOT_GIVEN)
    assert datetime.fromisoformat(alert.evidence["due_by"]) == cycle.day1 + timedelta(hours=118)
    assert "46-hour infusion" in alert.message

"""Issue 21, items 5-8 again with a real Celery worker (real Redis, real PostgreSQL): what the save path
raised is there before the worker runs, its email deliveries are sent by the worker, and the worker's own
evaluation after the recompute keeps the same answer (one rule set, two callers)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import clinical, records
from monitoring.labfeed import importers
from monitoring.models import Alert, Cycle, Forecast, Regimen
from monitoring.models.results import Source
from tests.conftest import make_patient, make_user, start_on_regimen, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _at(hours: float) -> str:
    return timezone.localtime(timezone.now() - timedelta(hours=hours)).isoformat(timespec="minutes")


def _fresh(cycle) -> Forecast | None:
    version = Cycle.objects.get(pk=cycle.pk).input_version
    return Forecast.objects.filter(cycle=cycle, input_version=version).first()


def test_an_unregistered_grade_4_and_a_held_unit_slip_are_raised_at_import_and_emailed_by_the_worker(
        live_worker, team):
    make_user("admin_ann", [], role="admin")
    patient = make_patient(team, nurse=make_user("nurse", [team]))
    start_on_regimen(patient, Regimen.objects.get(code="DOCETAXEL-75-Q3W"))
    importers.import_file("lab.csv", "mrn,collected_at,anc,unit,accession\n"
                          f"NEW-1,{_at(2)},0.2,10^9/L,W-1\n{patient.mrn},{_at(2)},80,10^9/L,W-2\n",
                          source=Source.IMPORT)
    unregistered = Alert.objects.get(kind=Alert.Kind.UNREGISTERED_RESULT)  # raised in the import's transaction
    held = Alert.objects.get(patient=patient, kind=Alert.Kind.HELD_RESULT)
    assert (unregistered.severity, held.severity) == (Alert.Severity.CRITICAL, Alert.Severity.CRITICAL)
    for alert in (unregistered, held):
        assert wait_until(lambda a=alert: a.deliveries.filter(channel="email").exists()
                          and not a.deliveries.filter(channel="email").exclude(status="sent").exists())


def test_default_fever_policy_and_pre_dose_readiness_hold_after_the_workers_recompute(live_worker, team):
    patient = make_patient(team, nurse=make_user("nurse", [team]))
    cycle1 = start_on_regimen(patient, Regimen.objects.get(code="DOCETAXEL-75-Q3W"), days_ago=20)
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=2), unit="10^9/L", anc=Decimal("0.3"),
        platelets=Decimal("80")))
    records.record_temperature(patient, taken_at=timezone.now() - timedelta(minutes=5),
                               temperature_c=Decimal("38.2"), entered_value="38.2", entered_unit="C")
    fn = Alert.objects.get(patient=patient, kind=Alert.Kind.FEBRILE_NEUTROPENIA, resolved_at__isnull=True)
    # At save time, no worker needed:
    not_ready = Alert.objects.get(cycle=cycle1, kind=Alert.Kind.NOT_READY, resolved_at__isnull=True)
    assert "platelets 80 x10^9/L" in not_ready.message
    assert wait_until(lambda: _fresh(cycle1))
    for alert in (fn, not_ready):
        alert.refresh_from_db()
        assert alert.resolved_at is None  # the worker's evaluation agrees with the save path's

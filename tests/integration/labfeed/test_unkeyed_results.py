"""G-CSF doses and temperatures without an external id: one row per patient, time and product / value,
held by the database as counts are (a double submit or concurrent identical senders store it once)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from monitoring.models import ApiToken, GcsfDose, TemperatureReading
from monitoring.models.results import Source
from tests.conftest import make_patient, make_user

pytestmark = pytest.mark.django_db


def _minute(hours_ago: float):
    return (timezone.now() - timedelta(hours=hours_ago)).replace(second=0, microsecond=0)


def test_database_refuses_a_second_unkeyed_dose_or_reading(patient):
    moment = _minute(1)
    dose = dict(patient=patient, product="filgrastim", dose=Decimal("300"), dose_unit="ug", given_at=moment)
    reading = dict(patient=patient, taken_at=moment, temperature_c=Decimal("38.40"), entered_value="38.4")
    GcsfDose.objects.create(**dose)
    TemperatureReading.objects.create(**reading)
    for model, fields in ((GcsfDose, dose), (TemperatureReading, reading)):
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.create(**fields, source=Source.API)
        model.objects.create(**fields, external_id="X-1")  # with an external id, that id is the key


def test_a_double_submitted_temperature_and_dose_are_stored_once_and_both_succeed(patient, nurse_client):
    taken = timezone.localtime(_minute(1)).strftime("%Y-%m-%dT%H:%M")
    for _ in range(2):
        page = nurse_client.post(f"/patients/{patient.pk}/temperatures/new/",
                                 {"taken_at": taken, "value": "38.6", "unit": "C", "site": "oral"}, follow=True)
        assert page.status_code == 200
        page = nurse_client.post(f"/patients/{patient.pk}/gcsf/new/",
                                 {"given_at": taken, "product_name": "filgrastim", "dose": "300", "dose_unit": "ug",
                                  "route": "SC"}, follow=True)
        assert page.status_code == 200
    assert "already recorded" in page.content.decode()
    assert TemperatureReading.objects.filter(patient=patient).count() == 1
    assert GcsfDose.objects.filter(patient=patient).count() == 1


def _at_once(n: int, send) -> list[int]:
    """Run `send()` in `n` threads released together; return their HTTP statuses."""
    statuses, start = [], threading.Barrier(n)

    def run():
        try:
            start.wait()
            statuses.append(send())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_temperatures_by_form_and_api_are_stored_once_and_all_succeed(team):
    patient = make_patient(team)
    nurse = make_user("nurse.concurrent", [team])
    _, token = ApiToken.issue("ward monitor", [team])
    for round_number in range(3):
        moment = timezone.localtime(_minute(round_number + 1))

        def by_form(moment=moment):
            client = Client()
            client.force_login(nurse)
            return client.post(f"/patients/{patient.pk}/temperatures/new/", {
                "taken_at": moment.strftime("%Y-%m-%dT%H:%M"), "value": "38.7", "unit": "C", "site": "oral"},
            ).status_code

        def by_api(moment=moment):
            body = f"mrn,collected_at,temperature,temperature_unit\nMRN001,{moment.isoformat()},38.7,C\n"
            return Client().post("/api/v1/results", body, content_type="text/csv",
                                 headers={"Authorization": f"Bearer {token}"}).status_code

        for send in (by_form, by_api):
            statuses = _at_once(8, send)
            assert len(statuses) == 8 and set(statuses) <= {200, 201, 302}, statuses
            assert TemperatureReading.objects.filter(patient=patient, taken_at=moment).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_removes_exact_copies_keeping_the_earliest_with_history(team):
    executor = MigrationExecutor(connection)
    before = [("monitoring", "0010_labfeed")]
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        old_reading = apps.get_model("monitoring", "TemperatureReading")
        patient_id = make_patient(team).pk
        moment = _minute(2)
        first, copy, other = (old_reading.objects.create(patient_id=patient_id, taken_at=moment,
                                                          temperature_c=Decimal(celsius), entered_value=celsius)
                              for celsius in ("38.40", "38.40", "37.10"))
        keyed = old_reading.objects.create(patient_id=patient_id, taken_at=moment, temperature_c=Decimal("38.40"),
                                           entered_value="38.40", external_id="T-9")
    finally:
        # Forward through 0011 to the latest migration: the tests after this one need today's schema.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    kept = set(TemperatureReading.objects.filter(patient_id=patient_id).values_list("pk", flat=True))
    assert kept == {first.pk, other.pk, keyed.pk}
    [removed] = TemperatureReading.history.filter(id=copy.pk, history_type="-")
    assert f"duplicate of #{first.pk}" in removed.history_change_reason and removed.temperature_c == Decimal("38.40")

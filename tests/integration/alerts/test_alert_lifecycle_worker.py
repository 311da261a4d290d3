"""Issue 21 with a real worker: the recompute's full rule run keeps what the save path decided.

The same scenario as the no-worker one (an acknowledged grade 4 that falls to profound): the
worker recomputes after each result and runs every rule; it must neither raise the worse alert a
second time nor drop the acknowledgement of the alert that stays in hand.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import alerts, clinical, records
from monitoring.models import Alert, Forecast
from tests.conftest import make_patient, start_on_regimen, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _count(anc: str, hours_ago: float, accession: str):
    return clinical.parse_count(collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L",
                                anc=Decimal(anc), accession=accession)


def _recomputed(cycle) -> Forecast:
    cycle.refresh_from_db()
    return wait_until(lambda: Forecast.objects.filter(cycle=cycle, input_version=cycle.input_version).first(),
                      timeout=90)


def test_with_a_worker_in_hand_stays_in_hand_and_worse_is_raised_once(live_worker, team, nurse, regimens):
    patient = make_patient(team, mrn="W21", nurse=nurse)
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    records.record_count(patient, _count("0.40", 6, "W21-1"))
    first = Alert.objects.get(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED)
    alerts.acknowledge_alert(first.pk, nurse, "Phoned")
    _recomputed(cycle)
    records.record_count(patient, _count("0.30", 4, "W21-2"))  # still grade 4: stays in hand
    _recomputed(cycle)
    first.refresh_from_db()
    assert first.acknowledged_at is not None and first.resolved_at is None

    records.record_count(patient, _count("0.05", 1, "W21-3"))
    _recomputed(cycle)

    grade4 = Alert.objects.filter(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED).order_by("pk")
    assert [(a.pk == first.pk, a.resolved_at is None, a.acknowledged_at is None) for a in grade4] == [
        (True, False, False), (False, True, True)]
    assert "profound neutropenia" in grade4[1].message


def test_with_a_worker_an_acknowledged_fn_stays_in_hand_and_first_on_the_ward(live_worker, client, team, nurse,
                                                                               regimens):
    from django.urls import reverse

    patient = make_patient(team, mrn="W21FN", nurse=nurse)
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    records.record_count(patient, _count("0.30", 2, "W21FN-1"))
    records.record_temperature(patient, taken_at=timezone.now() - timedelta(minutes=20),
                               temperature_c=Decimal("38.6"), entered_value="38.6", entered_unit="C")
    fn = Alert.objects.get(patient=patient, kind=Alert.Kind.FEBRILE_NEUTROPENIA)
    alerts.acknowledge_alert(fn.pk, nurse, "Cultures taken")
    records.record_count(patient, _count("0.25", 1, "W21FN-2"))  # the worker recomputes and runs every rule
    _recomputed(cycle)

    fn.refresh_from_db()
    assert fn.acknowledged_at is not None and fn.resolved_at is None
    client.force_login(nurse)
    first_row = client.get(reverse("ward")).content.decode().split('<tr class="risk-row')[1]
    assert "row-fn" in first_row and "In hand" in first_row and "antibiotics not recorded" in first_row

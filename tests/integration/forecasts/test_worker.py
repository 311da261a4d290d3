"""A task enqueued on commit runs on a real Celery worker, over the real Redis, on PostgreSQL."""
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import clinical, records
from monitoring.models import Forecast
from tests.conftest import make_patient, start_on_regimen, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_saving_a_count_enqueues_a_recompute_on_commit_that_the_worker_runs(live_worker, team, regimens):
    patient = make_patient(team, mrn="W1")
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    count = clinical.parse_count(collected_at=timezone.now(), unit="10^9/L", anc=Decimal("0.9"))
    records.record_count(patient, count)
    cycle.refresh_from_db()

    forecast = wait_until(
        lambda: Forecast.objects.filter(cycle=cycle, input_version=cycle.input_version).first(), timeout=60
    )
    assert forecast.n_counts == 1
    assert forecast.nadir_anc_1e9_per_l is not None and forecast.nadir_anc_1e9_per_l <= 0.9 + 1e-9


def test_nothing_is_enqueued_when_the_transaction_rolls_back(live_worker, team, regimens):
    from django.db import transaction

    patient = make_patient(team, mrn="W2")
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    cycle.refresh_from_db()
    version = cycle.input_version
    wait_until(lambda: Forecast.objects.filter(cycle=cycle, input_version=version).exists(), timeout=60)
    with pytest.raises(RuntimeError), transaction.atomic():
        records.record_count(patient, clinical.parse_count(collected_at=timezone.now(), unit="/uL", anc=Decimal(400)))
        raise RuntimeError("roll back")
    cycle.refresh_from_db()
    assert cycle.input_version == version
    assert not patient.counts.exists()

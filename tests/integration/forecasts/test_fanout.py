"""Many cycles changed at once are published as one fan-out task that a real worker splits per cycle."""
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import clinical, forecasts, jobs, records
from monitoring.models import Cycle, Forecast
from tests.conftest import make_patient, start_on_regimen, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _batch_for(patients) -> records.ResultBatch:
    now = timezone.now()
    counts = [(p, clinical.parse_count(collected_at=now, unit="10^9/L", anc=Decimal("0.9"))) for p in patients]
    return records.ResultBatch(counts=counts, gcsf=[], temperatures=[], corrections=[], removals=[])


def _queued(queue: str) -> int:
    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.client.llen(queue)


def test_an_import_touching_many_cycles_publishes_one_task_and_the_worker_makes_every_forecast_fresh(
        isolated_worker, team, regimens):
    patients = [make_patient(team, mrn=f"F{n}") for n in range(jobs.FANOUT_FROM + 2)]
    cycles = [start_on_regimen(p, regimens["DOCETAXEL-75-Q3W"], days_ago=6) for p in patients]
    queue = isolated_worker.queues["celery"]
    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)  # the recomputes of starting the courses
    records.record_batch(_batch_for(patients), source="file")
    assert _queued(queue) == 1  # one fan-out task for 10 cycles, not 10 tasks

    isolated_worker(roles=("celery",))
    for cycle in cycles:
        version = Cycle.objects.get(pk=cycle.pk).input_version
        forecast = wait_until(lambda c=cycle, v=version: Forecast.objects.filter(cycle=c, input_version=v).first(),
                              timeout=90)
        assert forecast.n_counts == 1


def test_a_few_cycles_are_still_published_one_task_each(isolated_worker, team, regimens):
    patients = [make_patient(team, mrn=f"G{n}") for n in range(3)]
    for p in patients:
        start_on_regimen(p, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    queue = isolated_worker.queues["celery"]
    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
    records.record_batch(_batch_for(patients), source="file")
    assert _queued(queue) == 3


def test_a_fan_out_that_cannot_publish_recomputes_the_cycles_itself(isolated_worker, team, regimens):
    # isolated_worker (none started): starting the courses publishes recomputes to private queues.
    # On the shared queue the session's worker ran them while this test's own recompute, and then the
    # TRUNCATE after the test, touched the same rows: a deadlock (seen once on a loaded machine).
    from django.conf import settings

    from tests.conftest import point_broker_at

    patients = [make_patient(team, mrn=f"H{n}") for n in range(2)]
    cycles = [start_on_regimen(p, regimens["DOCETAXEL-75-Q3W"], days_ago=6) for p in patients]
    point_broker_at("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        assert forecasts.fan_out_recomputes([c.pk for c in cycles]) == 0
    finally:
        point_broker_at(settings.CELERY_BROKER_URL)
    for cycle in cycles:
        cycle.refresh_from_db()
        assert Forecast.objects.get(cycle=cycle).input_version == cycle.input_version

"""Forecasts left stale by a broker outage are fresh within a minute of Redis returning (issue 25 item 6).

Real Redis, a real worker and a real beat, no manual step: the results are saved while the
publisher points at a dead port (their recomputes are lost), then Redis "returns" and beat's
minute job publishes the lost recomputes. The 5-minute sweep never runs in the test's time.
"""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import forecasts, stale_forecasts
from monitoring.models import Cycle, Regimen
from tests.conftest import REPO, make_patient, start_on_regimen, wait_until
from tests.story import add_grade4

pytestmark = pytest.mark.postgres


def _on_docetaxel(team, mrn: str) -> Cycle:
    return start_on_regimen(make_patient(team, mrn=mrn), Regimen.objects.get(code="DOCETAXEL-75-Q3W"))


def test_forecasts_stale_from_a_broker_outage_are_recomputed_by_the_minute_job(
        isolated_worker, broker_down, team, tmp_path):
    cycles = [_on_docetaxel(team, f"MRN00{n}") for n in range(3)]
    forecasts.recompute_stale(inline=True)  # every forecast fresh before the outage
    for cycle in cycles:  # Redis is down: each result is saved, its recompute is lost
        add_grade4(cycle.course.patient)
    # The outage lasted a while: the results are older than the one-minute grace.
    Cycle.objects.update(inputs_changed_at=timezone.now() - timedelta(minutes=3))
    assert stale_forecasts.count_late() == 3

    broker_down()  # Redis is back; nobody runs any command
    # Production: the job every 60 s for forecasts late by 60 s; shortened so the test takes seconds.
    fast = {"STALE_FORECAST_CATCHUP_INTERVAL_SECONDS": "1", "STALE_FORECAST_AFTER_SECONDS": "2"}
    isolated_worker(fast, concurrency=1, roles=("celery",))
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "neutrowatch", "beat", "-l", "info",
         "-s", str(tmp_path / "beat-schedule"), "--pidfile", str(tmp_path / "beat.pid")],
        cwd=REPO, env=isolated_worker.env(fast), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: stale_forecasts.count_late() == 0, timeout=60)
    finally:
        beat.terminate()
        beat.wait(timeout=20)


def _purge_forecasts_queue() -> None:
    """Drop what the set-up published (no worker reads this test's private queues)."""
    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)


def test_the_job_publishes_nothing_while_the_queue_holds_work(isolated_worker, team, settings):
    from monitoring import tasks

    cycle = _on_docetaxel(team, "MRN001")
    Cycle.objects.filter(pk=cycle.pk).update(input_version=5, inputs_changed_at=timezone.now() - timedelta(minutes=2))
    _purge_forecasts_queue()
    tasks.heartbeat.delay("worker-test")  # something queued (no worker reads this test's queues)
    assert stale_forecasts.queued_recomputes() == 1
    assert stale_forecasts.recompute_lost() == 0  # the queued work will come to it
    assert stale_forecasts.queued_recomputes() == 1


def test_the_job_publishes_the_lost_recomputes_when_the_queue_is_empty(isolated_worker, team):
    cycle = _on_docetaxel(team, "MRN001")
    Cycle.objects.filter(pk=cycle.pk).update(input_version=5, inputs_changed_at=timezone.now() - timedelta(minutes=2))
    fresh = _on_docetaxel(team, "MRN002")  # changed just now: its recompute is on its way, not lost
    Cycle.objects.filter(pk=fresh.pk).update(input_version=5, inputs_changed_at=timezone.now())
    _purge_forecasts_queue()
    assert stale_forecasts.queued_recomputes() == 0
    assert stale_forecasts.recompute_lost() == 1
    assert stale_forecasts.queued_recomputes() == 1

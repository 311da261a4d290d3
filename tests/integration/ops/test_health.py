"""/healthz and the background-processing banner (issue 11 and 14)."""
import socket
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import forecasts
from monitoring.models import Heartbeat
from tests.conftest import wait_until
from tests.integration.ops.heartbeats import beat_all

pytestmark = pytest.mark.django_db




def closed_port_url() -> str:
    """Return a Redis URL on a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_healthz_is_200_with_every_part_up_and_needs_no_login(client, patient):
    beat_all()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok" and body["broker"] == "ok" and body["failing"] == []
    assert 9 <= body["worker_heartbeat_age_s"] <= 60
    assert patient.mrn.encode() not in response.content and patient.family_name.encode() not in response.content


def test_healthz_is_503_naming_the_stale_heartbeat(client):
    beat_all(age=timedelta(minutes=6))
    body = client.get("/healthz").json()
    assert client.get("/healthz").status_code == 503
    # Beat sends the workers' heartbeats: with beat silent, beat alone is named (the workers are unknown).
    assert body["failing"] == ["beat"] and body["worker_heartbeat_age_s"] >= 360
    assert body["components"]["forecasts"]["state"] == "unknown" and body["status"] == "down"


def test_healthz_is_503_when_a_queue_never_had_a_worker(client):
    beat_all()
    Heartbeat.objects.filter(component="worker-alerts").delete()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["failing"] == ["alerts"]


def test_healthz_is_503_naming_the_broker_when_redis_is_down(client, settings):
    beat_all()
    settings.CELERY_BROKER_URL = closed_port_url()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("down") and response.json()["failing"] == ["broker"]


def test_pages_show_a_red_banner_with_the_time_processing_stopped(nurse_client):
    stopped = timezone.now() - timedelta(minutes=7)
    beat_all(age=timedelta(minutes=7))
    for url in (reverse("ward"), reverse("alerts"), reverse("import_upload")):
        html = nurse_client.get(url).content.decode()
        assert f"The scheduler (beat) stopped at {timezone.localtime(stopped):%H:%M}" in html
        assert "escalation of unacknowledged alerts" in html


def test_no_banner_while_heartbeats_are_fresh(nurse_client):
    beat_all(age=timedelta(seconds=30))
    assert 'id="background-banner"' not in nurse_client.get(reverse("ward")).content.decode()


def test_banner_when_no_worker_ever_started(nurse_client):
    html = nurse_client.get(reverse("ward")).content.decode()
    assert "The scheduler (beat) is not running (never reported)" in html


def test_eager_mode_says_plainly_there_is_no_worker(nurse_client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    html = nurse_client.get(reverse("ward")).content.decode()
    assert "Degraded mode: no background worker" in html and "stopped at" not in html
    assert nurse_client.get("/healthz").json()["broker"].startswith("not used")


def test_ward_marks_a_forecast_older_than_its_inputs(nurse_client, cycle, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert "Pending" in nurse_client.get(reverse("ward")).content.decode()  # given, not yet forecast
    forecasts.recompute_cycle(cycle.pk)
    html = nurse_client.get(reverse("ward")).content.decode()
    assert "Out of date" not in html and "Pending" not in html
    forecasts.mark_inputs_changed([cycle.pk])  # a result came in; its recompute has not run yet
    assert "Out of date" in nurse_client.get(reverse("ward")).content.decode()


def test_the_worker_records_its_heartbeat_when_beat_sends_the_task(live_worker):
    from monitoring import tasks

    tasks.heartbeat.delay("worker-celery")
    beat = wait_until(lambda: Heartbeat.objects.filter(component="worker-celery").first())
    assert timezone.now() - beat.beaten_at < timedelta(minutes=1)

"""Health that tells the truth at once (issue 25 item 6): each part named, late forecasts counted."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import forecasts, health, stale_forecasts
from monitoring.models import Cycle, Heartbeat
from tests.integration.ops.heartbeats import beat_all

pytestmark = pytest.mark.django_db


def _age(component: str, seconds: float) -> None:
    Heartbeat.objects.filter(component=component).update(beaten_at=timezone.now() - timedelta(seconds=seconds))


def test_only_the_webhooks_worker_dead_is_named_and_forecasts_are_not_blamed(client, nurse_client):
    beat_all()
    _age("worker-webhooks", 200)
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503 and body["failing"] == ["webhooks"] and body["status"] == "down"
    assert body["components"]["forecasts"]["state"] == "ok" and body["components"]["webhooks"]["state"] == "down"
    html = nurse_client.get(reverse("ward")).content.decode()
    assert "The webhooks worker stopped at" in html and "webhook deliveries" in html
    assert "forecasts are not being updated" not in html


def test_a_worker_silent_for_over_a_minute_is_late_not_five_minutes_later(client):
    beat_all()
    _age("worker-alerts", 75)
    body = client.get("/healthz").json()
    assert body["failing"] == ["alerts"] and body["components"]["alerts"]["state"] == "late"
    assert body["status"] == "degraded"
    _age("worker-alerts", 45)
    assert client.get("/healthz").status_code == 200


def test_late_banner_says_how_long_and_why(nurse_client):
    beat_all()
    _age("worker-celery", 90)
    html = nurse_client.get(reverse("ward")).content.decode()
    assert "The forecasts worker has not reported for 90 s" in html and "forecasts are not being updated" in html
    assert "banner-degraded" in html  # amber while late; red once down
    _age("worker-celery", 200)
    assert "banner-stopped" in nurse_client.get(reverse("ward")).content.decode()


def test_mllp_is_not_expected_until_a_listener_has_run_here(client, settings):
    beat_all()
    assert client.get("/healthz").json()["components"]["mllp"]["state"] == "off"
    health.record_heartbeat("mllp", timezone.now() - timedelta(minutes=10))  # it ran, then stopped
    body = client.get("/healthz").json()
    assert body["failing"] == ["mllp"] and body["components"]["mllp"]["state"] == "down"
    settings.HEALTH_MLLP = "off"
    assert client.get("/healthz").status_code == 200 and "mllp" not in client.get("/healthz").json()["components"]


def test_mllp_required_is_down_before_it_ever_ran(client, settings):
    settings.HEALTH_MLLP = "required"
    beat_all()
    assert client.get("/healthz").json()["failing"] == ["mllp"]


def test_forecasts_older_than_their_inputs_by_over_a_minute_are_counted_and_degrade(client, nurse_client, cycle):
    beat_all()
    forecasts.recompute_cycle(cycle.pk)
    assert client.get("/healthz").status_code == 200
    forecasts.mark_inputs_changed([cycle.pk])  # a result came in: its recompute is on its way
    body = client.get("/healthz").json()
    assert body["late_forecasts"] == 0 and body["failing"] == []  # not late yet
    Cycle.objects.filter(pk=cycle.pk).update(inputs_changed_at=timezone.now() - timedelta(seconds=90))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["late_forecasts"] == 1 and response.json()["failing"] == ["late_forecasts"]
    assert response.json()["status"] == "degraded"
    html = nurse_client.get(reverse("ward")).content.decode()
    assert "1 forecast is out of date by more than a minute" in html and "banner-degraded" in html
    forecasts.recompute_cycle(cycle.pk)
    assert client.get("/healthz").status_code == 200


def test_the_catch_up_job_runs_every_minute_or_sooner(settings):
    job = settings.CELERY_BEAT_SCHEDULE["recompute-lost-forecasts"]
    assert job["task"] == stale_forecasts.recompute_lost_forecasts.name and job["schedule"] <= 60
    heartbeats = [entry for name, entry in settings.CELERY_BEAT_SCHEDULE.items() if name.startswith("heartbeat-")]
    assert heartbeats and all(entry["schedule"] < settings.HEARTBEAT_LATE_SECONDS / 2 for entry in heartbeats)

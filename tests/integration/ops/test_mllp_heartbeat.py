"""The MLLP listener reports in while it serves, and is named when it stops (issue 25 item 6)."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import health
from monitoring.models import Heartbeat
from tests.conftest import REPO, wait_until
from tests.integration.ops.heartbeats import beat_all

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_listener_beats_while_serving_and_is_named_once_it_stops(settings):
    db = settings.DATABASES["default"]
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="neutrowatch.settings_test", REDIS_URL=settings.REDIS_URL,
               DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
               HEARTBEAT_INTERVAL_SECONDS="0.5", CELERY_TASK_DEFAULT_QUEUE=f"nw-mllp-beat-{os.getpid()}")
    proc = subprocess.Popen([sys.executable, "manage.py", "mllp_listener", "--host", "127.0.0.1", "--port", "0"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().startswith("MLLP listener on")
        first = wait_until(lambda: Heartbeat.objects.filter(component="mllp").first()).beaten_at
        wait_until(lambda: Heartbeat.objects.get(component="mllp").beaten_at > first)  # again and again
        beat_all()
        assert health.background_status().state == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    last = Heartbeat.objects.get(component="mllp").beaten_at
    status = health.background_status(now=last + timedelta(seconds=settings.HEARTBEAT_DOWN_SECONDS + 1))
    mllp = next(part for part in status.parts if part.part.name == "mllp")
    assert mllp.state == "down" and "HL7 (MLLP) listener stopped at" in mllp.sentence
    assert f"{timezone.localtime(last):%H:%M}" in mllp.sentence

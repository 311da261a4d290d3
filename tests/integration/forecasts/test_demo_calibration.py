"""Calibration with data on the demo (issue 22): load_demo replays its past, the page shows real numbers."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from monitoring.forecasts import replay as forecast_replay
from monitoring.models import Cycle, ForecastScore, Patient

pytestmark = pytest.mark.django_db


def test_the_demo_calibration_page_scores_the_forecasts_made_before_each_later_count(client, regimens):
    out = StringIO()
    call_command("load_demo", password="demo-password-1", stdout=out)
    assert "forecasts scored" in out.getvalue()

    # Every score is of a forecast made before the count it scores, in the count's own patient's cycle.
    scores = ForecastScore.objects.select_related("count", "cycle__course")
    assert scores.count() > 100
    for score in scores:
        assert score.forecast_as_of < score.count.collected_at
        assert score.count.patient_id == score.cycle.course.patient_id

    client.force_login(Patient.objects.get(mrn="DEMO-0001").team.members.get(username="nurse"))
    html = client.get(reverse("forecast_calibration")).content.decode()
    overall = re.search(r'<th scope="row">All regimens</th><td>(\d+)</td><td>(\d+) %</td><td>([\d.]+)</td>'
                        r'<td>([\d.]+)</td><td>(\d+)</td>', html)
    assert overall, "the overall row shows dashes"
    scored, inside, error, pit, finished = overall.groups()
    assert int(scored) == scores.count()
    assert 0 < int(inside) <= 100 and float(error) > 0 and 0 < float(pit) < 1
    assert int(finished) > 0  # finished cycles feed the grade-4 table


def test_replaying_twice_adds_no_score(team, nurse, regimens):
    from tests.conftest import make_patient, start_on_regimen
    from tests.story import add_count

    patient = make_patient(team, mrn="REPLAY1", nurse=nurse)
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=12)
    for days, anc in ((4, "3.1"), (8, "0.9"), (11, "1.8")):
        add_count(patient, cycle.day1 + timedelta(days=days), anc)
    cycle = Cycle.objects.select_related("course__regimen").get(pk=cycle.pk)

    first = forecast_replay.replay_cycle(cycle, timezone.now())
    forecast_replay.replay_cycle(cycle, timezone.now())

    # One score per count: the forecast made at the dose scores day 5; the one after it, day 9; ...
    assert first == 3 == ForecastScore.objects.filter(cycle=cycle).count()
    assert sorted(ForecastScore.objects.values_list("horizon_hours", flat=True)) == pytest.approx(
        [72 - 1 / 60, 96 - 1 / 60, 96 - 1 / 60], abs=0.01)

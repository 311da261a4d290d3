"""Calibration in the clinic: stored forecasts scored when their counts arrive; page and command."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from monitoring import forecasts, selectors
from monitoring.models import Forecast, ForecastScore
from tests.conftest import record_anc, start_on_regimen

pytestmark = pytest.mark.django_db


def forecast_then_count(cycle, made_on_day: float, count_on_day: float, value: str) -> Forecast:
    """Store a forecast made on cycle day `made_on_day`, then a count on `count_on_day`; recompute."""
    patient = cycle.course.patient
    made = cycle.day1 + timedelta(days=made_on_day - 1)
    if not cycle.course.patient.counts.exists():
        record_anc(patient, cycle.day1 - timedelta(hours=2), "5.0")
    forecasts.recompute_cycle(cycle.pk, now=made)
    at = cycle.day1 + timedelta(days=count_on_day - 1)
    record_anc(patient, at, value)
    return forecasts.recompute_cycle(cycle.pk, now=at + timedelta(hours=1))


def test_a_count_arriving_after_a_forecast_is_scored_against_its_band(patient, regimens):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=12)
    forecasts.recompute_cycle(cycle.pk, now=cycle.day1 + timedelta(days=1))
    old = Forecast.objects.get(cycle=cycle)
    point = next(p for p in old.trajectory if p["time"] >= selectors._local_iso(cycle.day1 + timedelta(days=7)))
    forecast_then_count(cycle, 2, 8, "0.050")   # far below any band

    score = ForecastScore.objects.get()
    assert score.forecast_as_of == old.as_of
    assert score.observed_anc_1e9_per_l == pytest.approx(0.05)
    assert score.lo80 <= score.predicted_anc_1e9_per_l <= score.hi80
    assert score.predicted_anc_1e9_per_l == pytest.approx(point["anc"], rel=0.3)
    assert not score.inside80
    assert score.pit < 0.1
    assert score.log10_error == pytest.approx(math.log10(score.predicted_anc_1e9_per_l / 0.05))
    assert score.regimen.code == "DOCETAXEL-75-Q3W"


def test_a_count_inside_the_band_scores_inside_and_near_the_middle(patient, regimens):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=12)
    forecasts.recompute_cycle(cycle.pk, now=cycle.day1 + timedelta(days=1))
    old = Forecast.objects.get(cycle=cycle)
    target = selectors._local_iso(cycle.day1 + timedelta(days=7))
    median = next(p["anc"] for p in old.trajectory if p["time"] == target)
    forecast_then_count(cycle, 2, 8, f"{median:.3f}")

    score = ForecastScore.objects.get()
    assert score.inside80
    assert 0.3 < score.pit < 0.7
    assert abs(score.log10_error) < 0.05


def test_scoring_is_idempotent_and_ignores_counts_before_the_forecast(patient, regimens):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=12)
    forecast = forecast_then_count(cycle, 2, 8, "1.0")
    assert ForecastScore.objects.count() == 1   # the pre-dose count came before the forecast
    forecasts.score_forecast(forecast, cycle, timezone.now())
    again = forecasts.score_forecast(Forecast.objects.get(cycle=cycle), cycle, timezone.now())
    assert again == 0 and ForecastScore.objects.count() == 1


def test_calibration_command_and_summary(patient, regimens):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=30)
    forecast_then_count(cycle, 2, 8, "0.050")
    forecast_then_count(cycle, 9, 12, "1.500")
    scores = list(ForecastScore.objects.all())
    assert len(scores) == 2

    out = StringIO()
    call_command("calibration", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["n"] == 2
    assert summary["cover80"] == pytest.approx(sum(s.inside80 for s in scores) / 2, abs=1e-3)
    assert summary["mae_log10"] == pytest.approx(sum(abs(s.log10_error) for s in scores) / 2, abs=1e-3)
    regimen = summary["regimens"][0]
    assert regimen["regimen"] == "DOCETAXEL-75-Q3W" and regimen["n"] == 2
    # The cycle is over (30 days ago, 21-day cycle) and a grade-4 count was measured in it.
    assert summary["grade4"]["cycles"] == 1
    assert summary["grade4"]["predicted_and_observed"] + summary["grade4"]["observed_not_predicted"] == 1

    text = StringIO()
    call_command("calibration", stdout=text)
    assert "DOCETAXEL-75-Q3W" in text.getvalue() and "all regimens" in text.getvalue()


def test_calibration_with_nothing_scored_says_so():
    out = StringIO()
    call_command("calibration", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["n"] == 0 and summary["cover80"] is None and summary["mae_log10"] is None


def test_calibration_page_needs_login_and_shows_no_patient(nurse_client, patient, regimens):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=12)
    forecast_then_count(cycle, 2, 8, "0.050")
    url = reverse("forecast_calibration")
    assert url == "/forecasts/calibration/"
    assert Client().get(url).status_code == 302
    page = nurse_client.get(url)
    assert page.status_code == 200
    content = page.content.decode()
    assert "DOCETAXEL-75-Q3W" in content and "All regimens" in content
    assert patient.mrn not in content and patient.family_name not in content


def test_the_calibration_page_gives_the_alert_threshold_as_every_alert_does(nurse_client):
    # Every alert says "P(grade 4) 44 % (alert from 20 %)"; this page said "at least 0.2".
    content = nurse_client.get(reverse("forecast_calibration")).content.decode()
    assert "P(grade 4) of at least 20\u00a0%" in content and "at least 0.2;" not in content


def test_forecast_stores_the_next_count_day_and_pages_show_it(nurse_client, patient, regimens):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=3)
    record_anc(patient, cycle.day1 - timedelta(hours=2), "5.0")
    forecast = forecasts.recompute_cycle(cycle.pk)
    assert forecast.next_fbc_on is not None
    assert forecast.next_fbc_on > timezone.localdate()
    assert forecast.next_fbc_on <= (cycle.day1 + timedelta(days=20)).date()
    shown = f"next FBC: {forecast.next_fbc_on:%a} {forecast.next_fbc_on.day} {forecast.next_fbc_on:%b}"
    assert shown in nurse_client.get(reverse("patient", args=[patient.pk])).content.decode()
    assert shown in nurse_client.get(reverse("ward")).content.decode()


def test_the_grade4_table_takes_the_same_queries_for_1_and_20_finished_cycles(team, regimens):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.conftest import make_patient

    def finished_cycle(number: int) -> None:
        patient = make_patient(team, mrn=f"CAL{number:03d}")
        cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=30 + number / 24)
        forecast_then_count(cycle, 2, 8, "0.300" if number % 2 else "1.800")  # odd: grade 4 observed

    def grade4_table() -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as captured:
            summary = selectors.calibration_summary(timezone.now())
        return len(captured), summary["grade4"]

    finished_cycle(1)
    one, table = grade4_table()
    assert table["cycles"] == 1
    for number in range(2, 21):
        finished_cycle(number)
    twenty, table = grade4_table()
    assert twenty == one
    assert table["cycles"] == 20
    assert table["predicted_and_observed"] + table["observed_not_predicted"] == 10


def test_the_calibration_page_says_what_its_columns_mean(nurse_client):
    # "Mean PIT" and "Mean abs log10 error" were column heads with no word on what they measure.
    content = nurse_client.get(reverse("forecast_calibration")).content.decode()
    assert "PIT (probability integral transform)" in content
    assert "Mean abs log10 error: how far" in content

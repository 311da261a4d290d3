"""One forecast, one picture (issue 22): the chart's median and 80 % band are the forecast the header states.

Before, the header's nadir was capped by the counts measured in the cycle while the chart drew the
uncapped courses: after a 0.1 on day 2 the header said 0.10 and the chart's median stayed at 3.5-3.9.
These tests read what the patient page sends (the header's numbers and the figure's JSON).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from monitoring import clinical, forecasts, records
from monitoring.models import Patient
from tests.conftest import make_patient, start_on_regimen

pytestmark = pytest.mark.django_db

# The engine rounds to 3 significant digits and the header shows 2 decimals: a little slack.
ROUNDING = 0.02


def page_forecast(client, patient) -> tuple[dict, dict]:
    """Return (the header's predicted nadir, the current cycle's figure) as the patient page sends them."""
    html = client.get(reverse("patient", args=[patient.pk])).content.decode()
    header = re.search(r"<dt>Predicted nadir</dt><dd[^>]*>\s*([\d.]+) x10<sup>9</sup>/L.*?80 %: ([\d.]+) to ([\d.]+)",
                       html, re.S)
    assert header, "the header states no predicted nadir"
    figure_id = re.search(r'data-figure="(fig-cycle-\d+)"', html).group(1)
    figure = json.loads(re.search(rf'<script id="{figure_id}" type="application/json">(.*?)</script>', html, re.S)
                        .group(1))
    nadir, lo80, hi80 = (float(v) for v in header.groups())
    return {"nadir": nadir, "lo80": lo80, "hi80": hi80}, figure


def chart_forecast(figure: dict, last_day: int) -> list[tuple[float, float, float, float]]:
    """Return (day, low, median, high) of the chart's forecast within the cycle."""
    median = next(t for t in figure["data"] if t["meta"] == "forecast")
    low, high = (t for t in figure["data"] if t["meta"] == "forecast-band")
    return [(x, lo, mid, hi) for x, lo, mid, hi in zip(median["x"], low["y"], median["y"], high["y"], strict=True)
            if 1 <= x < last_day + 1]


def assert_one_forecast(header: dict, figure: dict, last_day: int) -> None:
    points = chart_forecast(figure, last_day)
    assert points, "the chart draws no forecast"
    # The chart's lowest median lies in the header's 80 % interval for the nadir ...
    lowest = min(points, key=lambda p: p[2])
    assert header["lo80"] - ROUNDING <= lowest[2] <= header["hi80"] + ROUNDING, (header, lowest)
    # ... the chart's band, where the header puts the nadir, holds the header's nadir ...
    marker = next(t for t in figure["data"] if t["meta"] == "predicted-nadir")
    at_nadir = min(points, key=lambda p: abs(p[0] - marker["x"][0]))
    assert abs(at_nadir[0] - marker["x"][0]) < 0.05, "the chart has no point at the predicted nadir"
    assert at_nadir[1] - ROUNDING <= header["nadir"] <= at_nadir[3] + ROUNDING, (header, at_nadir)
    # ... and the nadir marker is the header's own number.
    assert marker["y"][0] == pytest.approx(header["nadir"], abs=0.006)


def test_every_demo_patients_chart_draws_the_forecast_its_header_states(client, regimens):
    call_command("load_demo", password="demo-password-1", replay=False, stdout=StringIO())
    oncologist = Patient.objects.get(mrn="DEMO-0001").team.members.get(username="oncologist")
    client.force_login(oncologist)
    checked = 0
    for patient in Patient.objects.filter(mrn__startswith="DEMO-").order_by("mrn"):
        header, figure = page_forecast(client, patient)
        course = patient.courses.get(active=True)
        assert_one_forecast(header, figure, course.regimen.cycle_length_days)
        checked += 1
    assert checked == 20


@pytest.mark.parametrize("low", ["0.1", "0.3"])
def test_after_a_low_count_on_day_2_the_chart_falls_with_the_header(client, nurse, team, regimens, low):
    patient = make_patient(team, mrn="LOW002", nurse=nurse)
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=1.2)
    records.record_count(patient, clinical.parse_count(
        collected_at=cycle.day1 - timedelta(hours=2), unit="10^9/L", anc=Decimal("4.4")))
    collected = timezone.now() - timedelta(hours=1)
    records.record_count(patient, clinical.parse_count(collected_at=collected, unit="10^9/L", anc=Decimal(low)))
    forecasts.recompute_cycle(cycle.pk)
    client.force_login(nurse)

    header, figure = page_forecast(client, patient)

    assert header["nadir"] <= float(low) + ROUNDING  # never above the count the nurse has in front of her
    assert_one_forecast(header, figure, 21)
    # The median passes the low count where it was measured, not 3.5 above it.
    points = chart_forecast(figure, 21)
    counts = next(t for t in figure["data"] if t["meta"] == "counts")
    at_count = min(points, key=lambda p: abs(p[0] - counts["x"][-1]))
    assert at_count[2] <= 2 * float(low)

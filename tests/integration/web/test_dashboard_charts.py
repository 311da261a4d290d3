"""The chart figures: valid Plotly, every element the nurse reads, units and grades in words."""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go
import pytest
from django.utils import timezone

from monitoring import charts, selectors
from tests.story import build_story_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def story(team, regimens):
    patient, cycles = build_story_patient(team, regimens)
    return selectors.patient_page(patient, timezone.now()), cycles


def test_every_figure_is_valid_plotly(story):
    page, _ = story
    figures = [charts.cycle_figure(c) for c in page.charted_cycles]
    figures += [charts.timeline_figure(page), charts.overlay_figure(page)]
    assert len(figures) == 5
    for figure in figures:
        go.Figure(figure)  # raises ValueError on any property Plotly does not know


def test_a_typed_product_name_is_text_in_the_hover_not_markup(team, regimens):
    """Plotly draws a little HTML in hover text, links among it: what a nurse typed must stay text."""
    patient, _ = build_story_patient(team, regimens)
    patient.gcsf_doses.update(product_name='<a href="https://evil.example">Neulasta</a>')
    page = selectors.patient_page(patient, timezone.now())
    hovers = [h for c in page.charted_cycles for t in charts.cycle_figure(c)["data"] if t["meta"] == "gcsf"
              for h in t["hovertext"]]
    assert hovers and all('(&lt;a href="https://evil.example"&gt;Neulasta&lt;/a&gt;)' in h for h in hovers)
    assert not any("<a" in h for h in hovers)


def test_cycle_chart_marks_grades_thresholds_chemo_gcsf_and_nadirs(story):
    page, cycles = story
    by_number = {c.cycle.number: c for c in page.cycles}
    figure = charts.cycle_figure(by_number[1])
    labels = [a["text"] for a in figure["layout"]["annotations"]]
    assert {"Grade 4 (< 0.5)", "Grade 3 (0.5 to < 1.0)", "Grade 2 (1.0 to < 1.5)"} <= set(labels)
    assert "Next cycle needs ANC ≥ 1.5 x10⁹/L" in labels
    # Whole calendar days in clinic time (day 1 = the dose's date), not "day 7.9": the count 7 days
    # less 2 h after the dose is on day 8 unless the dose was given before 02:00.
    nadir_day = (timezone.localtime(by_number[1].start - timedelta(hours=2)).date()
                 - timezone.localtime(by_number[1].start).date()).days + 8
    assert f"Observed nadir 0.4 (day {nadir_day})" in labels
    counts = next(t for t in figure["data"] if t["meta"] == "counts")
    # The pre-dose count (2 h before day 1) starts its own cycle; cycle 2's pre-dose 4.1 is not here.
    assert counts["y"] == [4.8, 2.1, 0.4, 1.2, 3.9]
    chemo = next(t for t in figure["data"] if t["meta"] == "chemo")
    assert counts["x"][0] < chemo["x"][0] and "Pre-dose count" in counts["hovertext"][0]
    assert "Grade 4 (life-threatening)" in counts["hovertext"][2] and "x10⁹/L" in counts["hovertext"][2]
    assert f"Day {nadir_day}, " in counts["hovertext"][2]  # day of cycle with the date on hover
    assert counts["text"][2] == "G4"  # the grade as text on the point, not only its colour
    assert figure["layout"]["xaxis"]["title"]["text"].startswith("Day of cycle")
    gcsf = next(t for t in figure["data"] if t["meta"] == "gcsf")
    assert "Pegfilgrastim 6 mg SC (Neulasta)" in gcsf["hovertext"][0]
    assert figure["layout"]["yaxis3"]["categoryarray"] == ["Chemotherapy", "Pegfilgrastim"]

    current = charts.cycle_figure(by_number[3])
    chemo = next(t for t in current["data"] if t["meta"] == "chemo")
    assert "80% of protocol dose" in chemo["hovertext"][0]
    forecast = cycles[2].forecast
    forecast.refresh_from_db()
    median = next(t for t in current["data"] if t["meta"] == "forecast")
    assert len(median["x"]) == len(forecast.trajectory) > 0
    assert any(a["text"].startswith("Predicted nadir") for a in current["layout"]["annotations"])


def test_cycle_chart_highlights_fever(story):
    page, _ = story
    second = next(c for c in page.cycles if c.cycle.number == 2)
    figure = charts.cycle_figure(second)
    temperature = next(t for t in figure["data"] if t["meta"] == "temperature")
    assert temperature["y"] == [37.1, 38.6, 37.4]
    assert "fever" in temperature["hovertext"][1] and "°C" in temperature["hovertext"][1]
    fever = next(t for t in figure["data"] if t["meta"] == "fever")
    assert fever["y"] == [38.6] and fever["text"] == ["Fever"]


def test_a_zero_count_stays_visible_on_the_log_scale(team, regimens):
    from datetime import timedelta

    from tests.conftest import make_patient, start_on_regimen
    from tests.story import add_count

    patient = make_patient(team, mrn="ZERO1")
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=9)
    add_count(patient, timezone.now() - timedelta(hours=2), "0")
    page = selectors.patient_page(patient, timezone.now())
    counts = next(t for t in charts.cycle_figure(page.current)["data"] if t["meta"] == "counts")
    assert counts["y"] == [charts.LOG_FLOOR_1E9_PER_L]
    assert counts["hovertext"][0].startswith("ANC 0 x10⁹/L")

"""Issue 21, item 9: a number is never shown rounded across a clinical boundary; a censored count reads "<0.1"."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from monitoring import clinical
from monitoring.alerts import evidence, presentation, rules
from monitoring.alerts.rules.worsening import transition
from monitoring.charts.common import _Axis
from monitoring.charts.scenarios import _traces
from monitoring.charts.traces import _forecast_traces, _predicted_nadir
from tests.unit.alerts.cycle_facts import DAY1, T, count, facts, forecast, kinds, temp


@pytest.mark.parametrize("value, digits, shown", [
    (0.499, 2, "0.499"),  # grade 4: not "0.50" (grade 3)
    (0.5, 2, "0.50"),
    (Decimal("0.300"), 2, "0.30"),
    (2.456, 2, "2.46"),  # nothing to cross: the usual rounding
    (0.995, 2, "0.995"),  # grade 3: not "1.00" (grade 2)
    (1.4999, 2, "1.4999"),  # grade 2: not "1.50"
    (0.0996, 2, "0.0996"),  # profound (< 0.1): not "0.10"
    (38.04, 1, "38.04"),  # above NICE's 38.0 C: not "38.0"
    (38.26, 1, "38.26"),  # below 38.3 C: not "38.3"
    (38.3, 1, "38.3"),
    (24.96, 0, "24.96"),  # grade 4 platelets: not "25"
    ("<0.1", 2, "<0.1"),
])
def test_a_number_is_never_rounded_across_a_boundary(value, digits, shown):
    assert clinical.number_text(value, digits) == shown


def test_a_censored_count_reads_as_the_lab_reported_it():
    assert clinical.count_text(Decimal("0.100"), "<") == "<0.1"
    assert clinical.count_text(Decimal("0.310")) == "0.310"


def test_the_alert_evidence_and_headline_never_round_0499_to_050():
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    lines = evidence.evidence_lines({"nadir_anc_1e9_per_l": 0.499, "nadir_interval80": [0.2, 0.9951]}, now)
    assert lines == ["Predicted nadir 0.499 ×10⁹/L (80 %: 0.20 to 0.995)"]  # 0.995, not "1.00"
    censored = evidence.evidence_lines({"anc_1e9_per_l": "0.100", "anc_as_received": "<0.1", "ctcae_grade": 4},
                                           now)
    assert censored == ["ANC <0.1 ×10⁹/L, grade 4"]


def test_the_grade4_predicted_alert_reads_the_nadir_as_the_header_does():
    # The header prints the predicted nadir with `|anc` (0.499); the alert said "nadir about 0.50" (grade 3).
    predicted = replace(forecast(p_grade4=0.4), nadir_anc_1e9_per_l=0.499, nadir_lo80=0.2, nadir_hi80=0.9951)
    message = {f.kind: f for f in rules.evaluate(facts(3, forecast=predicted), T)}[rules.GRADE4_PREDICTED].message
    assert "nadir about 0.499 x10^9/L (80 % interval 0.20-0.995)" in message


def test_the_charts_predicted_nadir_reads_as_the_header_does():
    # The nadir marker is "the header's number" (docs/one-truth.md): 0.499, never "0.50".
    day1 = datetime(2026, 5, 11, 9, tzinfo=UTC)
    predicted = SimpleNamespace(error="", nadir_at=datetime(2026, 5, 18, 9, tzinfo=UTC), nadir_anc_1e9_per_l=0.499,
                                nadir_lo80=0.2, nadir_hi80=0.9951, p_grade4=0.4)
    (trace,), (note,) = _predicted_nadir(predicted, _Axis(day1))
    assert note["text"] == "Predicted nadir 0.499"
    assert trace["hovertext"][0].startswith("Predicted nadir 0.499 x10⁹/L (80 %: 0.20 to 0.995)<br>")


def _censored(day: float, bound: str) -> rules.CountPoint:
    return rules.CountPoint(DAY1 + timedelta(days=day - 1), Decimal(bound), count_id=int(day * 10), qualifier="<")


def test_a_censored_count_reads_lt_01_in_every_alerts_evidence_as_in_its_message():
    # The message said "last ANC <0.1" and, in the same card, the evidence "ANC 0.100 ×10⁹/L".
    now = DAY1 + timedelta(days=9)
    fn = kinds(facts(9, counts=(_censored(8, "0.1"),), temperatures=(temp(8.9, "38.6"),)))[rules.FEBRILE_NEUTROPENIA]
    assert "last ANC <0.1 x10^9/L" in fn.message
    assert evidence.evidence_lines(fn.evidence, now)[0].startswith("ANC <0.1 ×10⁹/L at ")

    continuing = kinds(facts(10, counts=(_censored(8, "0.1"),), live_kinds=frozenset({rules.FEBRILE_NEUTROPENIA})))
    episode = continuing[rules.FEBRILE_NEUTROPENIA]
    assert "the last ANC is <0.1 x10^9/L" in episode.message
    assert evidence.evidence_lines(episode.evidence, now)[0].startswith("ANC <0.1 ×10⁹/L at ")

    # A worst count of 0.05, then the lab's "<0.1": the latest reads "<0.1", not its bound.
    grade4 = kinds(facts(10, counts=(count(8, "0.05"), _censored(9, "0.1"))))[rules.GRADE4_OBSERVED]
    assert "Latest ANC <0.1 ×10⁹/L at 10:00 yesterday" in evidence.evidence_lines(grade4.evidence, now)
    assert presentation.headline(SimpleNamespace(kind=rules.GRADE4_OBSERVED, title="Grade 4 neutropenia observed",
                                                 evidence=grade4.evidence, cleared_at=None), now).startswith(
        "Grade 4 observed (ANC 0.05, latest <0.1)")


def test_a_worse_alerts_change_names_a_censored_count_as_received():
    # "Worse: grade 3 observed (ANC 0.8 ...) -> ANC 0.1": the "<0.1" that made it worse read as its bound.
    worse = kinds(facts(10, counts=(count(8, "0.8"), _censored(9, "0.1"))))[rules.GRADE4_OBSERVED]
    change = transition("Grade 3 observed", {"anc_1e9_per_l": "0.8"}, worse, UTC)
    assert change == "Grade 3 observed (ANC 0.8) -> ANC <0.1 at Tue 19 May 09:00"


def test_the_forecast_curves_hover_never_rounds_across_a_grade_boundary():
    # Hovering the forecast's lowest point read "Forecast 0.50" beside the marker's "Predicted nadir 0.499".
    day1 = datetime(2026, 5, 11, 9, tzinfo=UTC)
    predicted = SimpleNamespace(error="", trajectory=[{"time": "2026-05-18T10:00:00", "anc": 0.499, "lo80": 0.2,
                                                       "hi80": 0.9951}])
    median = next(t for t in _forecast_traces(predicted, _Axis(day1)) if t["meta"] == "forecast")
    assert median["hovertext"][0].startswith("Forecast 0.499 x10⁹/L (80 %: 0.20 to 0.995)<br>")
    # ... and a what-if band's the same (charts/scenarios.py).
    row = SimpleNamespace(key="peg_day2", label="Pegfilgrastim day 2",
                          curve={"hours": [168], "anc": [0.499], "lo80": [0.2], "hi80": [0.9951]})
    whatif = next(t for t in _traces(row, _Axis(day1), day1) if "hovertext" in t)
    assert whatif["hovertext"][0].startswith("Pegfilgrastim day 2: 0.499 x10⁹/L (80 %: 0.20 to 0.995)<br>")

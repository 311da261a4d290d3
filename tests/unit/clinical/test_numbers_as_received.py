"""Issue 21, item 9: a number is never shown rounded across a clinical boundary; a censored count reads "<0.1"."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from monitoring import clinical
from monitoring.alerts import evidence, rules
from monitoring.charts.common import _Axis
from monitoring.charts.traces import _predicted_nadir
from tests.unit.alerts.cycle_facts import T, facts, forecast


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

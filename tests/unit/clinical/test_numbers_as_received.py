"""Issue 21, item 9: a number is never shown rounded across a clinical boundary; a censored count reads "<0.1"."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from monitoring import clinical
from monitoring.alerts import evidence


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

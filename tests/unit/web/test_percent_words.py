"""Probabilities on screen: whole percentages, never rounded across the alert thresholds."""

from __future__ import annotations

import pytest

from monitoring import wording
from monitoring.alerts import evidence
from monitoring.selectors.ward_text import _percent
from monitoring.templatetags.nw_format import percent as percent_filter


@pytest.mark.parametrize("probability, shown", [
    (0.712, "71 %"), (0.2, "20 %"), (0.204, "20 %"), (0.125, "13 %"), (0.0, "0 %"), (1.0, "100 %"),
    (0.196, "19.6 %"),    # "grade 4 predicted" needs 20 %: not "20 %" without an alert
    (0.0996, "9.96 %"),   # a live one clears below 10 %
    (0.4996, "49.96 %"),  # "not ready" below 50 %
])
def test_a_probability_is_a_whole_percentage_unless_rounding_crosses_an_alert_threshold(probability, shown):
    assert wording.percent(probability, " ") == shown
    assert percent_filter(probability) == _percent(probability) == shown.replace(" ", "\u00a0")


def test_the_alert_evidence_says_it_so_beside_its_threshold():
    lines = evidence.evidence_lines({"p_grade4": 0.196, "threshold": 0.2}, None)
    assert lines == ["P(grade 4) 19.6 % (alert from 20 %)"]


def test_the_thresholds_are_the_clinics_settings(settings):
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "GRADE4_PREDICTED_THRESHOLD": 0.3}
    assert wording.percent(0.296, " ") == "29.6 %" and wording.percent(0.196, " ") == "20 %"

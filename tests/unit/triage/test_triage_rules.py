"""The telephone triage outcome rule (UKONS structure): one red or two ambers, one amber, else advice."""

from decimal import Decimal

import pytest

from monitoring.triage import rules


@pytest.mark.parametrize(("grades", "expected"), [
    (["green"] * 14, "advice"),
    ([], "advice"),
    (["amber"] + ["green"] * 13, "call_back"),
    (["amber", "amber"] + ["green"] * 12, "assess_now"),
    (["red"] + ["green"] * 13, "assess_now"),
    (["red", "amber"], "assess_now"),
])
def test_outcome(grades, expected):
    assert rules.outcome(grades) == expected


@pytest.mark.parametrize(("temperature_c", "expected"), [
    (None, None), (Decimal("37.4"), None), (Decimal("37.5"), "red"), (Decimal("36.0"), "red"),
    (Decimal("36.1"), None), (Decimal("39.0"), "red"),
])
def test_a_temperature_on_the_call_forces_the_fever_row_red(temperature_c, expected):
    assert rules.fever_grade(temperature_c) == expected


def test_worst_grade():
    assert rules.worst("green", None, "amber") == "amber"
    assert rules.worst("amber", "red") == "red"
    assert rules.worst(None) == "green"

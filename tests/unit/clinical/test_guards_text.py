"""Control characters and signed zeros (issue 25 item 8): the pure checks."""
from __future__ import annotations

from decimal import Decimal

import pytest

from monitoring import clinical
from monitoring.guards.text import control_character, describe


@pytest.mark.parametrize("text", ["2026-01-05T10:00\x00", "MRN\x1b[31m", "note\x7f", "a\x85b"])
def test_a_control_character_is_found(text):
    assert control_character(text) is not None


def test_line_breaks_and_tabs_are_allowed_only_in_multiline_text():
    assert control_character("first line\r\nsecond\tline", multiline=True) is None
    assert control_character("first line\nsecond") == "\n"
    assert control_character("plain text, ° and é") is None
    assert describe("\x00") == "NUL (U+0000)"


@pytest.mark.parametrize("typed", ["-0", "-0.0", "-0.000", "-.0"])
def test_a_signed_zero_count_is_refused_like_a_negative_one(typed):
    with pytest.raises(clinical.ClinicalValueError, match="cannot be negative"):
        clinical.count_to_1e9_per_l(clinical.to_decimal(typed), "10^9/L")


def test_zero_itself_is_still_a_count():
    assert clinical.count_to_1e9_per_l(clinical.to_decimal("0"), "10^9/L") == Decimal("0.000")
    assert clinical.count_to_1e9_per_l(clinical.to_decimal("+0.0"), "10^9/L") == Decimal("0.000")

"""One numeric reader for every form and importer: plain ASCII decimals, censored lab values, G-CSF doses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring import clinical


@pytest.mark.parametrize("text, number", [("0.45", "0.45"), (" 12 ", "12"), ("-1", "-1"), (".5", "0.5"), ("3.", "3")])
def test_plain_decimals_are_read(text, number):
    assert clinical.to_decimal(text, "anc") == Decimal(number)


@pytest.mark.parametrize("text", ["1e999999", "1E3", "1_0", "١٠", "٣", "NaN", "Infinity", "0x10", "1,2", "", "--1",
                                  "1.2.3", "+", ".", "1 000"])
def test_anything_else_is_not_a_number(text):
    with pytest.raises(clinical.ClinicalValueError, match="anc: .* is not a number"):
        clinical.to_decimal(text, "anc")


def test_too_many_digits_and_non_finite_decimals_are_refused():
    for value in ("1234567890123.5", "0.0000000000001", Decimal("1e999999"), Decimal("NaN"), Decimal("-Infinity")):
        with pytest.raises(clinical.ClinicalValueError):
            clinical.to_decimal(value, "anc")
    assert clinical.to_decimal(Decimal("0.1"), "anc") == Decimal("0.1")


@pytest.mark.parametrize("text, expected", [
    ("<0.1", ("<", "0.1")), ("< 0.05", ("<", "0.05")), (">50", (">", "50")), ("<=0.5", ("<", "0.5")),
    (">= 100", (">", "100")), ("≤0.2", ("<", "0.2")), ("0.3", ("", "0.3")),
])
def test_censored_values_give_their_qualifier_and_bound(text, expected):
    qualifier, bound = clinical.to_censored_decimal(text, "anc")
    assert (qualifier, bound) == (expected[0], Decimal(expected[1]))


@pytest.mark.parametrize("text", ["<", "<abc", "<1e5", "<<1", ">-"])
def test_a_censored_value_needs_a_plain_bound(text):
    with pytest.raises(clinical.ClinicalValueError):
        clinical.to_censored_decimal(text, "anc")


@pytest.mark.parametrize("dose, unit, ok", [
    ("6", "mg", True), ("300", "ug", True), ("480", "ug", True), ("99999", "mg", False), ("5", "ug", False),
    ("0", "mg", False), ("-6", "mg", False), ("6.001", "mg", False),
])
def test_gcsf_dose_limits(dose, unit, ok):
    if ok:
        assert clinical.check_gcsf_dose(Decimal(dose), unit) == Decimal(dose)
    else:
        with pytest.raises(clinical.ClinicalValueError):
            clinical.check_gcsf_dose(Decimal(dose), unit)


@given(st.text(max_size=30))
def test_any_text_is_a_small_finite_number_or_a_clear_error(text):
    try:
        number = clinical.to_decimal(text, "anc")
    except clinical.ClinicalValueError as exc:
        assert str(exc).startswith("anc: ")
        return
    assert number.is_finite() and (number == 0 or number.adjusted() < clinical.MAX_NUMBER_DIGITS)
    assert (number * 1000).quantize(Decimal("0.001")) is not None  # arithmetic never blows up


@given(st.text(max_size=30))
def test_any_text_is_a_censored_value_or_a_clear_error(text):
    try:
        qualifier, bound = clinical.to_censored_decimal(text, "anc")
    except clinical.ClinicalValueError:
        return
    assert qualifier in ("", "<", ">") and bound.is_finite()

"""Clinical rules on plain data: grading boundaries, units, differential, fever, G-CSF names."""
from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest

from monitoring import clinical
from monitoring.clinical import ClinicalValueError, TemperaturePoint


@pytest.mark.parametrize(
    "anc, grade",
    [
        ("5.0", 0), ("1.8", 0), ("1.79", 1), ("1.5", 1), ("1.499", 2), ("1.0", 2), ("0.999", 3),
        ("0.5", 3), ("0.499", 4), ("0", 4),
    ],
)
def test_ctcae_grade_boundaries_belong_to_the_milder_grade(anc, grade):
    assert clinical.ctcae_grade(D(anc)) == grade


def test_grade_1_starts_at_the_labs_lower_limit_not_at_2():
    assert clinical.ctcae_grade(D("1.9"), lln_1e9_per_l=D("2.0")) == 1
    assert clinical.ctcae_grade(D("1.9"), lln_1e9_per_l=D("1.8")) == 0
    assert clinical.ctcae_grade(D("1.6"), lln_1e9_per_l=D("1.5")) == 0


@pytest.mark.parametrize(
    "value, unit, expected",
    [
        ("1.5", "10^9/L", "1.500"), ("1.5", "10^3/uL", "1.500"), ("1500", "/uL", "1.500"),
        ("1.5", "K/uL", "1.500"), ("1.5", "x10^9/L", "1.500"), ("1500", "cells/uL", "1.500"),
        ("1.5", "10*3/uL", "1.500"), ("1.5", "10*9/L", "1.500"), ("250", "cells/mm3", "0.250"),
    ],
)
def test_count_units_convert_to_1e9_per_l(value, unit, expected):
    canonical = clinical.normalise_count_unit(unit)
    assert clinical.count_to_1e9_per_l(D(value), canonical) == D(expected)


def test_unknown_unit_is_refused_with_its_name():
    with pytest.raises(ClinicalValueError, match="unknown unit 'mmol/L'"):
        clinical.normalise_count_unit("mmol/L")


def test_implausible_magnitude_is_refused_not_guessed():
    with pytest.raises(ClinicalValueError, match="not plausible"):
        clinical.count_to_1e9_per_l(D("3000"), "10^3/uL")
    with pytest.raises(ClinicalValueError, match="was it 10\\^9/L"):
        clinical.count_to_1e9_per_l(D("1.2"), "/uL")
    assert clinical.count_to_1e9_per_l(D("0"), "/uL") == D("0")


def test_negative_count_is_refused():
    with pytest.raises(ClinicalValueError, match="negative"):
        clinical.count_to_1e9_per_l(D("-1"), "10^9/L")


def test_anc_from_differential_adds_bands():
    assert clinical.anc_from_differential(D("4.0"), D("50"), D("5")) == D("2.200")
    assert clinical.anc_from_differential(D("4.0"), D("50")) == D("2.000")


@pytest.mark.parametrize("neut, band", [("101", "0"), ("-1", "0"), ("60", "45")])
def test_anc_from_differential_refuses_impossible_percentages(neut, band):
    with pytest.raises(ClinicalValueError):
        clinical.anc_from_differential(D("4.0"), D(neut), D(band))


def test_fahrenheit_converts_and_out_of_range_is_refused():
    assert clinical.to_celsius(D("100.4"), "F") == D("38.00")
    assert clinical.to_celsius(D("38.3"), "Cel") == D("38.30")
    with pytest.raises(ClinicalValueError, match="outside"):
        clinical.to_celsius(D("46"), "C")
    with pytest.raises(ClinicalValueError, match="outside"):
        clinical.to_celsius(D("29.9"), "C")


def _readings(*pairs):
    start = datetime(2026, 11, 1, 8, 0)
    return [TemperaturePoint(start + timedelta(minutes=m), D(t)) for m, t in pairs]


def test_single_reading_of_38_3_is_fever():
    assert clinical.fever_episode(_readings((0, "37.0"), (30, "38.3"))) is not None


def test_38_0_confirmed_by_a_recheck_is_fever_but_not_with_a_normal_reading_between():
    # IDSA "sustained over 1 h": the re-check the 38.0-38.2 prompt asks for within the hour confirms it.
    idsa = clinical.FEVER_POLICY_IDSA
    assert clinical.fever_episode(_readings((0, "38.0"), (30, "38.1"), (60, "38.0")), idsa) is not None
    assert clinical.fever_episode(_readings((0, "38.0"), (45, "38.1")), idsa) is not None
    assert clinical.fever_episode(_readings((0, "38.0")), idsa) is None
    assert clinical.fever_episode(_readings((0, "38.0"), (30, "37.5"), (70, "38.1")), idsa) is None
    assert clinical.fever_needs_recheck(_readings((0, "38.0"), (30, "37.5"), (70, "38.1")), idsa) is not None


def test_nice_fever_is_one_reading_above_38_and_keeps_the_sustained_rule():
    nice = clinical.FEVER_POLICY_NICE
    assert clinical.fever_episode(_readings((0, "38.1")), nice) is not None
    assert clinical.fever_episode(_readings((0, "38.0")), nice) is None
    # Issue 21 item 6: the NICE setting keeps IDSA's sustained 38.0 C rule.
    assert clinical.fever_criteria(_readings((0, "38.0"), (45, "38.0")), nice) == {
        clinical.FEVER_38_SUSTAINED: _readings((0, "38.0"), (45, "38.0"))[1]}


def test_the_default_policy_is_the_union_of_nice_and_idsa():
    assert clinical.DEFAULT_FEVER_POLICY == clinical.FEVER_POLICY_NICE_IDSA
    once_381 = clinical.fever_criteria(_readings((0, "38.1")))
    assert set(once_381) == {clinical.FEVER_ABOVE_38_NICE}  # NICE's > 38.0 C, not yet IDSA's
    assert set(clinical.fever_criteria(_readings((0, "38.3")))) == {clinical.FEVER_ABOVE_38_NICE,
                                                                    clinical.FEVER_38_3_ONCE}
    assert clinical.fever_criteria(_readings((0, "38.0"))) == {}
    assert clinical.fever_needs_recheck(_readings((0, "38.0"))) is not None
    assert set(clinical.fever_criteria(_readings((0, "38.0"), (50, "38.0")))) == {clinical.FEVER_38_SUSTAINED}
    # IDSA alone: 38.1 once is not a fever but asks for a re-check.
    assert clinical.fever_criteria(_readings((0, "38.1")), clinical.FEVER_POLICY_IDSA) == {}


@pytest.mark.parametrize(
    "name, product",
    [
        ("filgrastim", "filgrastim"), ("Filgrastim-sndz", "filgrastim"), ("tbo-filgrastim", "filgrastim"),
        ("pegfilgrastim-jmdb", "pegfilgrastim"), ("Neulasta", "pegfilgrastim"), ("L03AA13", "pegfilgrastim"),
        ("L03AA02", "filgrastim"), ("lipegfilgrastim", "lipegfilgrastim"), ("Lonquex", "lipegfilgrastim"),
    ],
)
def test_gcsf_products_match_by_ingredient(name, product):
    assert clinical.gcsf_product(name) == product


def test_unknown_gcsf_product_is_refused():
    with pytest.raises(ClinicalValueError):
        clinical.gcsf_product("epoetin alfa")


# --- Delta check: counts that need a person to confirm them --------------------------------------

def test_a_value_of_20_to_100_names_cells_per_ul():
    from monitoring.clinical import count_needs_confirmation

    assert count_needs_confirmation(D("80"), None).startswith("80 may be cells/uL (0.08 x10^9/L)")
    assert count_needs_confirmation(D("20"), D("25")) is not None
    assert count_needs_confirmation(D("19.9"), None) is None


def test_a_tenfold_jump_from_the_previous_count_is_held_and_says_why():
    from monitoring.clinical import count_needs_confirmation

    decimal_slip = count_needs_confirmation(D("0.15"), D("1.6"))
    assert "11 times lower" in decimal_slip and "decimal point" in decimal_slip
    unit_mixup = count_needs_confirmation(D("0.003"), D("3.1"))
    assert "cells/uL and x10^9/L" in unit_mixup
    assert count_needs_confirmation(D("1.6"), D("0.16")) is None  # exactly 10 times
    assert count_needs_confirmation(D("0.02"), D("0")) is None  # within the lab's resolution


def test_a_held_temperature_is_read_in_its_unit_and_the_other():
    from decimal import Decimal

    from monitoring import clinical

    assert clinical.held_temperature_readings(Decimal("101.3"), "C") == [("if it is °F it is", Decimal("38.50"))]
    assert clinical.held_temperature_readings(Decimal("38.5"), "F") == [("if it is °C it is", Decimal("38.50"))]
    assert clinical.held_temperature_readings(Decimal("38.9"), "") == [("if it is °C it is", Decimal("38.90"))]
    assert clinical.held_temperature_readings(Decimal("38.9"), "C") == [("as received it is", Decimal("38.90"))]
    assert clinical.held_temperature_readings(Decimal("250"), "C") == []

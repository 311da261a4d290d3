"""Forecast caveats, next-cycle readiness and units in words a nurse uses (monitoring/wording.py)."""

from __future__ import annotations

from monitoring import wording


def test_poor_fit_becomes_what_it_means_for_the_patient():
    notes = wording.forecast_notes(["the counts fit the model poorly (effective sample size 17); "
                                    "treat the band with caution"])
    assert notes == ["This patient's counts differ from the usual pattern for this regimen, so the range is wide: "
                     "trust the measured counts over the forecast."]
    assert "effective sample size" not in notes[0]


def test_internal_caveats_are_left_out_and_known_ones_reworded_once():
    notes = wording.forecast_notes([
        "2 count(s) after as_of were ignored",
        "regimen prior learned from 140 patients on 'AC-q3w' (120 with counts after a dose)",
        "regimen prior learned from 140 patients on 'AC-q3w' (120 with counts after a dose)",
        "no counts yet: the forecast is the population prior for this regimen",
        "something new the kernel says",
    ])
    assert notes == ["Based on the counts of 140 earlier patients on this regimen.",
                     "No counts in this cycle yet: the forecast is what is usual for this regimen.",
                     "Something new the kernel says"]
    assert wording.forecast_notes(None) == []


def test_readiness_in_words_not_percentages_when_sure():
    assert wording.readiness(1.0) == wording.Readiness("Likely ready", False)
    assert wording.readiness(0.9).words == "Likely ready"
    assert wording.readiness(0.55) == wording.Readiness("Uncertain (55 % chance)", True)
    assert wording.readiness(0.05) == wording.Readiness("Unlikely to be ready", True)
    assert wording.readiness(None) is None


def test_after_febrile_neutropenia_the_oncologist_decides_whatever_the_counts_say():
    ready = wording.readiness(1.0, after_febrile_neutropenia=True)
    assert ready.concern and "febrile neutropenia" in ready.words and "%" not in ready.words


def test_units_as_people_write_them():
    assert wording.people_units("ANC 0.370 x10^9/L on Sat") == "ANC 0.370 ×10⁹/L on Sat"
    assert wording.people_units("3000 cells/uL, 10*3/uL") == "3000 cells/µL, 10³/µL"
    assert wording.people_units("38.6 °C") == "38.6 °C"

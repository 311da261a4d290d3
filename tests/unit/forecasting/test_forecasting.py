"""Behaviour of the nadir forecasting engine (no database, no Django)."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.forecasting import HistoryError, forecast_history, known_regimen_codes
from monitoring.forecasting.model import build_schedule, simulate
from monitoring.forecasting.priors import resolve_prior
from tests.unit.forecasting.histories import docetaxel_history


def first_cycle_history(**changes) -> dict:
    history = docetaxel_history(doses=[{"time": "2026-06-01T09:00", "dose_fraction": 1.0}],
                                counts=[{"time": "2026-06-01T07:00", "anc": 5.0, "unit": "10^9/L"}])
    history.update(changes)
    return history


def width(forecast: dict) -> float:
    low, high = forecast["nadir"]["interval80"]
    return math.log(high / low)


def test_steady_state_without_drug_stays_at_circ0():
    schedule = build_schedule([], [], 0.0, 0.1, [], [], 21 * 24.0)
    circ = simulate(np.array([4.2]), np.array([90.0]), np.array([3.0]), np.array([0.16]), np.array([0.0]),
                    schedule)
    assert np.allclose(circ, 4.2, rtol=1e-9)


def test_typical_docetaxel_prior_gives_nadir_day_7_to_10_and_recovery_by_day_21():
    prior, _ = resolve_prior("DOCETAXEL-75-Q3W", 21, "intermediate", None)
    circ0, mtt, kill, gamma, _gpot = np.exp(prior.log_mean())
    schedule = build_schedule([0.0], [1.0], 0.0, math.log(2) / prior.kde_half_life_h, [], [], 21 * 24.0)
    circ = simulate(*(np.array([v]) for v in (circ0, mtt, kill, gamma, 0.0)), schedule)[:, 0]
    day_of_cycle = 1 + schedule.grid_h / 24
    nadir_day = day_of_cycle[np.argmin(circ)]
    assert 7 <= nadir_day <= 10
    assert circ.min() < 1.0
    assert np.interp(21, day_of_cycle, circ) >= 1.5


def test_forecast_has_the_bench_output_shape():
    forecast = forecast_history(docetaxel_history())
    assert forecast["id"] == "p1"
    assert set(forecast) >= {"nadir", "p_grade4", "p_grade3plus", "readiness", "trajectory", "warnings"}
    assert forecast["readiness"] == {"next_day1": "2026-06-22T09:00", "threshold": 1.5,
                                     "p_anc_ge_threshold": forecast["readiness"]["p_anc_ge_threshold"]}
    assert forecast["trajectory"][0]["time"] == "2026-06-01T09:00"
    assert forecast["trajectory"][-1]["time"] >= "2026-06-22T09:00"
    assert 7 <= forecast["nadir"]["day_of_cycle"] <= 14


def test_pegfilgrastim_raises_the_predicted_nadir():
    without = forecast_history(first_cycle_history())
    with_peg = forecast_history(first_cycle_history(gcsf=[{"time": "2026-06-02T11:00", "product": "pegfilgrastim"}]))
    assert with_peg["nadir"]["anc"] > without["nadir"]["anc"]
    assert with_peg["p_grade4"] < without["p_grade4"]


def test_daily_filgrastim_raises_the_predicted_nadir():
    days = [{"time": f"2026-06-{day:02d}T10:00", "product": "filgrastim"} for day in range(3, 13)]
    assert forecast_history(first_cycle_history(gcsf=days))["nadir"]["anc"] > \
        forecast_history(first_cycle_history())["nadir"]["anc"]


def test_more_counts_narrow_the_band():
    few = docetaxel_history(counts=docetaxel_history()["counts"][-1:])
    assert width(forecast_history(docetaxel_history())) < width(forecast_history(few))


def test_dose_reduction_raises_the_nadir():
    reduced = first_cycle_history(doses=[{"time": "2026-06-01T09:00", "dose_fraction": 0.75}])
    assert forecast_history(reduced)["nadir"]["anc"] > forecast_history(first_cycle_history())["nadir"]["anc"]


@pytest.mark.parametrize(("unit", "factor"), [("10^3/uL", 1.0), ("/uL", 1000.0), ("cells/uL", 1000.0)])
def test_units_give_the_same_forecast(unit, factor):
    history = docetaxel_history()
    converted = copy.deepcopy(history)
    for count in converted["counts"]:
        count["anc"] = count["anc"] * factor
        count["unit"] = unit
    assert forecast_history(converted) == forecast_history(history)


def test_zone_suffixes_are_converted_to_the_cycle_start_offset():
    history = docetaxel_history(forecast_cycle_start="2026-06-01T09:00+02:00")
    for item in history["doses"] + history["counts"]:
        item["time"] = item["time"] + "+02:00"
    history["counts"][0]["time"] = "2026-05-11T05:00Z"   # the same instant as 07:00+02:00
    forecast = forecast_history(history)
    assert forecast == forecast_history(docetaxel_history())


def test_counts_after_as_of_are_ignored():
    history = docetaxel_history(as_of="2026-05-16T00:00")
    trimmed = docetaxel_history(counts=docetaxel_history()["counts"][:2])
    assert forecast_history(history)["nadir"] == forecast_history(trimmed)["nadir"]
    assert any("as_of" in warning for warning in forecast_history(history)["warnings"])


def test_unknown_regimen_uses_a_generic_prior_and_says_so():
    history = docetaxel_history(regimen={"code": "XYZ-Q3W", "cycle_length_days": 21, "fn_risk": "high"})
    forecast = forecast_history(history)
    assert any("generic prior" in warning for warning in forecast["warnings"])
    assert forecast["nadir"]["anc"] > 0


def test_bench_codes_and_app_codes_have_priors():
    for code in ("AC-60-600-Q3W", "TC-75-600-Q3W-PEG", "DOCETAXEL-75-Q3W", "FOLFOX-Q2W", *known_regimen_codes()):
        assert resolve_prior(code, 21, "intermediate", None)[1] == []
    assert "GEM-CARBO-D1D8" in known_regimen_codes()


def test_planned_day8_dose_of_a_d1d8_regimen_is_assumed():
    history = first_cycle_history(regimen={"code": "GEM-CARBO-D1D8", "cycle_length_days": 21,
                                           "fn_risk": "intermediate"})
    forecast = forecast_history(history)
    assert any("day 8" in warning for warning in forecast["warnings"])
    assert forecast["nadir"]["day_of_cycle"] > 10


def test_threshold_from_regimen_is_used():
    history = docetaxel_history()
    history["regimen"]["next_cycle_anc"] = 1.0
    assert forecast_history(history)["readiness"]["threshold"] == 1.0


@pytest.mark.parametrize(("change", "message"), [
    (lambda h: h["counts"][2].update(unit="mmol"), "counts[2].unit: unknown unit 'mmol'"),
    (lambda h: h["counts"][1].update(anc=-1), "counts[1].anc"),
    (lambda h: h["doses"][0].update(time="yesterday"), "doses[0].time: invalid ISO-8601 time 'yesterday'"),
    (lambda h: h.pop("forecast_cycle_start"), "forecast_cycle_start: missing"),
    (lambda h: h["regimen"].pop("cycle_length_days"), "regimen.cycle_length_days: missing"),
    (lambda h: h["gcsf"].append({"time": "2026-06-02T10:00", "product": "aspirin"}), "gcsf[0].product"),
    (lambda h: h.update(counts="many"), "counts: expected a list"),
])
def test_malformed_history_names_the_field(change, message):
    history = docetaxel_history()
    change(history)
    with pytest.raises(HistoryError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        forecast_history(history)


@st.composite
def histories(draw):
    cycle_days = draw(st.sampled_from([7, 14, 21, 28]))
    cycles = draw(st.integers(1, 4))
    code = draw(st.sampled_from(["DOCETAXEL-75-Q3W", "FOLFOX-Q2W", "GEM-CARBO-D1D8", "NEW-REGIMEN"]))
    fn_risk = draw(st.sampled_from(["low", "intermediate", "high", "unknown"]))
    start = np.datetime64("2026-03-02T09:00")
    doses, gcsf, counts = [], [], []
    for cycle in range(cycles):
        day1 = start + np.timedelta64(cycle * cycle_days * 24, "h")
        doses.append({"time": str(day1)[:16], "dose_fraction": draw(st.sampled_from([1.0, 0.8, 0.6]))})
        product = draw(st.sampled_from([None, "pegfilgrastim", "filgrastim"]))
        if product:
            days = [1] if product == "pegfilgrastim" else list(range(1, draw(st.integers(2, 10))))
            gcsf += [{"time": str(day1 + np.timedelta64(24 * d + 2, "h"))[:16], "product": product} for d in days]
        if cycle == cycles - 1:
            break
        for hour in sorted(draw(st.lists(st.integers(-3, cycle_days * 24 - 4), max_size=4))):
            anc = draw(st.floats(0.0, 60.0))
            unit = draw(st.sampled_from(["10^9/L", "10^3/uL", "/uL"]))
            counts.append({"time": str(day1 + np.timedelta64(hour, "h"))[:16],
                           "anc": anc * 1000 if unit == "/uL" else anc, "unit": unit})
    return {"id": "h", "regimen": {"code": code, "cycle_length_days": cycle_days, "fn_risk": fn_risk},
            "doses": doses, "gcsf": gcsf, "counts": counts, "forecast_cycle_start": doses[-1]["time"]}


@settings(max_examples=30, deadline=None)
@given(histories())
def test_random_valid_histories_give_sane_forecasts(history):
    forecast = forecast_history(history)
    nadir = forecast["nadir"]
    low, high = nadir["interval80"]
    assert all(math.isfinite(v) for v in (nadir["anc"], low, high, nadir["day_of_cycle"]))
    assert 0 < low <= nadir["anc"] <= high
    for key in ("p_grade4", "p_grade3plus"):
        assert 0.0 <= forecast[key] <= 1.0
    assert forecast["p_grade4"] <= forecast["p_grade3plus"]
    assert 0.0 <= forecast["readiness"]["p_anc_ge_threshold"] <= 1.0
    for point in forecast["trajectory"]:
        assert 0 <= point["lo80"] <= point["anc"] <= point["hi80"]
        assert math.isfinite(point["hi80"])


def extreme_history() -> dict:
    """Return a history whose counts swing between 0 and 149 x10^9/L around weekly doses and G-CSF."""
    counts = [("2026-01-06T19:00", 0.01), ("2026-01-07T05:00", 149), ("2026-01-09T18:00", 0),
              ("2026-01-11T08:00", 0.2), ("2026-01-12T15:00", 149), ("2026-01-12T17:00", 149),
              ("2026-01-13T09:00", 5), ("2026-01-17T12:00", 0.2), ("2026-01-17T15:00", 5),
              ("2026-01-17T18:00", 5)]
    return {
        "id": "extreme",
        "regimen": {"code": "NEW", "cycle_length_days": 7, "fn_risk": "high"},
        "doses": [{"time": f"2026-01-{day:02d}T09:00", "dose_fraction": fraction}
                  for day, fraction in ((5, 0.5), (12, 0.5), (19, 1.0))],
        "gcsf": [*({"time": f"2026-01-{day:02d}T11:00", "product": "filgrastim"} for day in range(6, 12)),
                 {"time": "2026-01-20T11:00", "product": "pegfilgrastim"}],
        "counts": [{"time": time, "anc": anc, "unit": "10^9/L"} for time, anc in counts],
        "forecast_cycle_start": "2026-01-19T09:00",
    }


@pytest.mark.parametrize("change", [
    lambda h: None,
    lambda h: h["regimen"].update(cycle_length_days=28, fn_risk="low"),
    lambda h: h.update(gcsf=[]),
    lambda h: h["doses"][-1].update(dose_fraction=3.0),
])
def test_extreme_histories_give_finite_forecasts_without_numeric_warnings(change):
    history = extreme_history()
    change(history)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forecast = forecast_history(history)
    low, high = forecast["nadir"]["interval80"]
    assert all(math.isfinite(v) and v > 0 for v in (low, forecast["nadir"]["anc"], high))
    assert all(math.isfinite(point["hi80"]) for point in forecast["trajectory"])


def test_tail_draws_stay_finite_and_positive_in_the_integrator():
    schedule = build_schedule([0.0, 168.0], [3.0, 3.0], 0.0, 0.5, [24.0 * d for d in range(1, 10)],
                              ["filgrastim"] * 9, 28 * 24.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        circ = simulate(np.array([0.5, 30.0, 5.0]), np.array([8.0, 400.0, 20.0]), np.array([40.0, 0.01, 40.0]),
                        np.array([3.0, 0.01, 2.5]), np.array([30.0, 0.0, 30.0]), schedule)
    assert np.all(np.isfinite(circ)) and np.all(circ > 0)


def test_unknown_regimen_named_d1_d8_assumes_the_day8_dose_in_a_first_cycle():
    named = first_cycle_history(regimen={"code": "NEW-GEM", "name": "New gemcitabine d1,d8 q3w",
                                         "cycle_length_days": 21, "fn_risk": "intermediate"})
    plain = first_cycle_history(regimen={"code": "NEW-GEM", "name": "New gemcitabine q3w",
                                         "cycle_length_days": 21, "fn_risk": "intermediate"})
    assert any("day 8" in warning for warning in forecast_history(named)["warnings"])
    assert forecast_history(named)["nadir"]["day_of_cycle"] > forecast_history(plain)["nadir"]["day_of_cycle"] + 2

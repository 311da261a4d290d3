"""What-if scenarios for the current and the next cycle, paired on the same posterior draws."""

from __future__ import annotations

import pytest

from monitoring.forecasting import forecast_history
from monitoring.forecasting.engine import fit_history
from monitoring.forecasting.scenarios import SCENARIOS, DoseStep, scenario_forecasts, scenarios_for
from tests.unit.forecasting.histories import docetaxel_history


def deep_history(**changes) -> dict:
    """A docetaxel patient whose cycle-1 nadir was grade 4 and who recovered slowly."""
    history = docetaxel_history(counts=[
        {"time": "2026-05-11T07:00", "anc": 4.6, "unit": "10^9/L"},
        {"time": "2026-05-18T10:00", "anc": 0.35, "unit": "10^9/L"},
        {"time": "2026-05-22T10:00", "anc": 0.6, "unit": "10^9/L"},
        {"time": "2026-06-01T07:00", "anc": 2.2, "unit": "10^9/L"}])
    history.update(changes)
    return history


@pytest.fixture(scope="module")
def deep():
    return scenario_forecasts(fit_history(deep_history()))


def rows(result: dict, cycle: str) -> dict:
    return {row["scenario"]: row for row in result["scenarios"] if row["cycle"] == cycle}


def test_every_scenario_for_both_cycles_with_the_figures_a_clinician_needs(deep):
    assert [(r["cycle"], r["scenario"]) for r in deep["scenarios"]] == [
        (cycle, s.key) for cycle in ("current", "next") for s in SCENARIOS]
    for row in deep["scenarios"]:
        low, high = row["nadir"]["interval80"]
        assert low <= row["nadir"]["anc"] <= high
        assert 1 <= row["nadir"]["day_of_cycle"] <= 21
        assert 0 <= row["p_grade4"] <= 1 and row["dsn_days"] >= 0
        assert 0 <= row["p_ready_day1"] <= 1 and 0 <= row["p_ready_next_day1"] <= 1


def test_as_planned_matches_the_forecast(deep):
    forecast = forecast_history(deep_history())
    planned = rows(deep, "current")["as_planned"]

    assert planned["nadir"]["anc"] == pytest.approx(forecast["nadir"]["anc"], rel=0.15)
    assert planned["p_grade4"] == pytest.approx(forecast["p_grade4"], abs=0.1)


@pytest.mark.parametrize("cycle", ["current", "next"])
def test_gcsf_and_a_lower_dose_each_lower_grade_4_against_the_plan(deep, cycle):
    by_key = rows(deep, cycle)
    planned = by_key["as_planned"]
    assert planned["p_grade4"] > 0.5   # this patient reached grade 4 in cycle 1
    for key in ("peg_day2", "filgrastim", "dose_80"):
        assert by_key[key]["p_grade4"] < planned["p_grade4"] - 0.15, key
        assert by_key[key]["dsn_days"] < planned["dsn_days"], key
        assert by_key[key]["nadir"]["anc"] > planned["nadir"]["anc"], key


def test_a_weeks_delay_gives_a_slow_recoverer_time_to_be_ready():
    # Counts that recover slowly: still 1.0 on the morning of the planned day 1.
    history = deep_history(counts=[{"time": f"2026-{day}", "anc": anc, "unit": "10^9/L"} for day, anc in [
        ("05-11T07:00", 4.6), ("05-18T10:00", 0.35), ("05-22T10:00", 0.4), ("05-26T10:00", 0.7),
        ("05-29T10:00", 0.9), ("06-01T07:00", 1.0)]])
    current = rows(scenario_forecasts(fit_history(history)), "current")
    planned, delayed = current["as_planned"], current["delay_1w"]

    # Readiness on the (delayed) day 1 of the current cycle: a week more of recovery.
    assert planned["p_ready_day1"] < 0.5
    assert delayed["p_ready_day1"] > planned["p_ready_day1"] + 0.3


def test_scenarios_are_paired_and_repeatable():
    fit = fit_history(deep_history())
    first, again = scenario_forecasts(fit), scenario_forecasts(fit)
    assert first == again
    # The next cycle as planned and the current one as planned come from the same draws: close.
    current, following = rows(first, "current")["as_planned"], rows(first, "next")["as_planned"]
    assert following["nadir"]["anc"] == pytest.approx(current["nadir"]["anc"], rel=0.3)


def test_a_first_cycle_without_counts_still_gets_scenarios():
    result = scenario_forecasts(fit_history(docetaxel_history(counts=[], doses=[
        {"time": "2026-06-01T09:00", "dose_fraction": 1.0}])))
    assert len(result["scenarios"]) == 2 * len(SCENARIOS)
    assert rows(result, "next")["peg_day2"]["p_grade4"] < rows(result, "next")["as_planned"]["p_grade4"]


def test_a_label_dose_step_names_the_reduced_dose_and_is_what_the_row_computes():
    step = DoseStep(0.8, "60 mg/m²")
    dose_row = {s.key: s for s in scenarios_for(step)}["dose_80"]
    assert dose_row.label == "Dose 60 mg/m² (label step, 80 %)"
    assert dose_row.dose_factor == 0.8
    assert {s.key: s for s in scenarios_for(DoseStep(0.75, "75 mg/m²"))}["dose_80"].label == \
        "Dose 75 mg/m² (label step, 75 %)"
    assert scenarios_for(None) == SCENARIOS   # no step: "Dose at 80 %"
    with pytest.raises(ValueError):
        scenarios_for(DoseStep(1.0, "75 mg/m²"))


def test_a_deeper_label_step_gives_a_higher_nadir_and_leaves_the_other_rows_alone(deep):
    fit = fit_history(deep_history())
    stepped = scenario_forecasts(fit, dose_step=DoseStep(0.75, "75 mg/m²"))
    for cycle in ("current", "next"):
        plain, step = rows(deep, cycle), rows(stepped, cycle)
        assert step["dose_80"]["label"] == "Dose 75 mg/m² (label step, 75 %)"
        assert step["dose_80"]["nadir"]["anc"] > plain["dose_80"]["nadir"]["anc"]
        for key in ("as_planned", "peg_day2", "filgrastim", "delay_1w"):
            assert step[key]["nadir"] == plain[key]["nadir"], key   # paired: the same draws


def test_each_row_of_this_cycle_carries_its_curve_for_the_chart(deep):
    length_h = 21 * 24
    assert all(row["curve"] is None for row in deep["scenarios"] if row["cycle"] == "next")
    for row in (r for r in deep["scenarios"] if r["cycle"] == "current"):
        curve = row["curve"]
        assert curve["hours"][0] == 0.0
        assert curve["hours"][-1] == length_h + (7 * 24 if row["scenario"] == "delay_1w" else 0)
        for low, mid, high in zip(curve["lo80"], curve["anc"], curve["hi80"], strict=True):
            assert low <= mid <= high
        # the curve's lowest median is near the row's nadir (the row reads it on a finer grid)
        assert min(curve["anc"]) == pytest.approx(row["nadir"]["anc"], rel=0.35)


def test_as_planned_honours_the_counts_already_measured_in_the_cycle_as_the_header_does():
    """A nurse saw 0.25 (0.01-0.61) as planned beside a header's 0.05 and a measured 0.08: two forecasts."""
    history = docetaxel_history(counts=[*docetaxel_history()["counts"],
                                        {"time": "2026-06-08T10:00", "anc": 0.45, "unit": "10^9/L"},
                                        {"time": "2026-06-10T10:00", "anc": 0.30, "unit": "10^9/L"},
                                        {"time": "2026-06-11T10:00", "anc": 0.08, "unit": "10^9/L"}])
    header = forecast_history(history)
    result = scenario_forecasts(fit_history(history))
    current = rows(result, "current")
    planned = current["as_planned"]
    assert header["nadir"]["anc"] <= 0.08 and planned["nadir"]["anc"] <= 0.08
    assert planned["nadir"]["anc"] == pytest.approx(header["nadir"]["anc"], rel=0.25)
    assert planned["p_grade4"] == header["p_grade4"] == 1.0
    # The chart's as-planned curve goes through the low count, not the earlier cycle's shape.
    curve = planned["curve"]
    day11 = min(range(len(curve["hours"])), key=lambda i: abs(curve["hours"][i] - (10 * 24 + 1)))
    assert curve["anc"][day11] < 0.2
    # Paired: the other rows keep their effect against the plan (a lower dose, a higher nadir).
    assert current["dose_80"]["nadir"]["anc"] > planned["nadir"]["anc"]
    for row in result["scenarios"]:
        low, high = row["nadir"]["interval80"]
        assert low <= row["nadir"]["anc"] <= high

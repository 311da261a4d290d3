"""Regimens always given with G-CSF, and patients whose own counts show how much G-CSF does for them."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from monitoring.forecasting import forecast_history
from monitoring.forecasting.gcsf import gcsf_plan
from monitoring.forecasting.model import build_schedule, simulate
from monitoring.forecasting.priors import GPOT_TYPICAL, REGIMEN_PRIORS, resolve_prior

KILL = 2
CYCLE_H = 21 * 24.0


def typical_nadir(prior, gcsf: str) -> float:
    """Return the first-cycle nadir of the prior's typical patient given ``gcsf``."""
    circ0, mtt_h, kill, gamma, gpot = (np.array([value]) for value in np.exp(prior.log_mean()))
    hours, products = gcsf_plan(gcsf)
    schedule = build_schedule([0.0], [1.0], 0.0, np.log(2) / prior.kde_half_life_h, hours, products, CYCLE_H)
    circ = simulate(circ0, mtt_h, kill, gamma, gpot, schedule)
    return float(circ[(schedule.grid_h >= 0) & (schedule.grid_h <= CYCLE_H)].min())


def test_the_tuning_cohorts_pegfilgrastim_arm_has_a_prior_stated_with_pegfilgrastim():
    prior, warnings = resolve_prior("TC-75-600-Q3W-PEG", 21, "high", None)

    assert (prior.code, prior.usual_gcsf, warnings) == ("TC-Q3W-PEG", "peg", [])
    assert resolve_prior("TC-75-600-Q3W", 21, "high", None)[0].usual_gcsf == "none"


def test_a_gcsf_regimen_keeps_its_nadir_with_gcsf_and_is_deeper_without():
    with_peg, plain = REGIMEN_PRIORS["TC-Q3W-PEG"], REGIMEN_PRIORS["TC-Q3W"]

    # The typical patient on the regimen's own schedule has the stated nadir ...
    assert typical_nadir(with_peg, "peg") == pytest.approx(with_peg.typical_nadir, rel=0.06)
    assert typical_nadir(plain, "none") == pytest.approx(plain.typical_nadir, rel=0.06)
    # ... which takes a stronger drug effect than TC's stated without G-CSF, so the counterfactual
    # "no pegfilgrastim" is far deeper than with it (pegfilgrastim keeps a clear effect).
    assert with_peg.log_mean()[KILL] > plain.log_mean()[KILL] + 0.2
    assert typical_nadir(with_peg, "none") < 0.5 * with_peg.typical_nadir


def cycle3_history(gpot: float) -> tuple[dict, float]:
    """Return a TC + pegfilgrastim history up to cycle 3 and its true cycle-3 nadir (G-CSF potency ``gpot``).

    Counts (noise-free) on days 1, 8, 11 and 15 of cycles 1 and 2, and before the cycle-3 dose.
    """
    prior = REGIMEN_PRIORS["TC-Q3W-PEG"]
    circ0, mtt_h, kill, gamma, _ = np.exp(prior.log_mean())
    dose_hours = [0.0, CYCLE_H, 2 * CYCLE_H]
    peg_hours = [h + 24.0 for h in dose_hours]
    schedule = build_schedule(dose_hours, [1.0] * 3, 0.0, np.log(2) / prior.kde_half_life_h, peg_hours,
                              ["pegfilgrastim"] * 3, 3 * CYCLE_H)
    circ = simulate(*(np.array([v]) for v in (circ0, mtt_h, kill, gamma, gpot)), schedule)[:, 0]

    def anc_at(hour: float) -> float:
        return round(float(np.exp(np.interp(hour, schedule.grid_h, np.log(circ)))), 3)

    count_hours = [c * CYCLE_H + d for c in (0, 1) for d in (-2.0, 7 * 24.0, 10 * 24.0, 14 * 24.0)]
    count_hours.append(2 * CYCLE_H - 2.0)
    start = datetime(2026, 3, 2, 9, 0)

    def iso(hour: float) -> str:
        return (start + timedelta(hours=hour)).isoformat(timespec="minutes")

    history = {
        "id": f"gpot-{gpot}",
        "regimen": {"code": "TC-75-600-Q3W-PEG", "name": "TC with pegfilgrastim", "cycle_length_days": 21,
                    "fn_risk": "high"},
        "doses": [{"time": iso(h), "dose_fraction": 1.0} for h in dose_hours],
        "gcsf": [{"time": iso(h), "product": "pegfilgrastim"} for h in peg_hours],
        "counts": [{"time": iso(h), "anc": anc_at(h), "unit": "10^9/L"} for h in count_hours],
        "forecast_cycle_start": iso(2 * CYCLE_H),
    }
    in_cycle3 = schedule.grid_h >= 2 * CYCLE_H
    return history, float(circ[in_cycle3].min())


@pytest.mark.parametrize("gpot", [0.15, GPOT_TYPICAL, 8.0])
def test_a_patients_own_response_to_pegfilgrastim_sets_the_forecast(gpot):
    # A patient whose counts after two pegfilgrastim cycles show almost no response (gpot 0.15,
    # 13 times below the typical 2.0) is forecast the deep nadir her counts show, not the typical
    # patient's; a strong responder the shallow one.
    history, true_nadir = cycle3_history(gpot)

    forecast = forecast_history(history)

    low, high = forecast["nadir"]["interval80"]
    assert low <= true_nadir <= high
    assert abs(np.log10(forecast["nadir"]["anc"] / true_nadir)) < 0.15
    if true_nadir < 0.3:
        assert forecast["p_grade4"] > 0.9
    if true_nadir > 1.0:
        assert forecast["p_grade4"] < 0.1


@pytest.mark.parametrize("gcsf", ["peg", "filgrastim"])
@pytest.mark.parametrize("mtt_h", [84.0, 110.0])
def test_even_a_far_tail_gcsf_response_never_deepens_the_nadir(gcsf, mtt_h):
    # The wide response prior admits 20- to 100-fold responders; their maturation is capped where
    # the 6 h step stays positive (model.MAX_TRANSIT_PER_STEP). Uncapped, gpot 200 gave a nadir of
    # 0.01 against 0.85 without G-CSF.
    gpot = np.array([1.0, 5.0, 20.0, 50.0, 200.0])
    hours, products = gcsf_plan(gcsf)
    with_gcsf = build_schedule([0.0], [1.0], 0.0, np.log(2) / 12.0, hours, products, 25 * 24.0)
    without = build_schedule([0.0], [1.0], 0.0, np.log(2) / 12.0, [], [], 25 * 24.0)
    patient = (np.full(gpot.size, 5.0), np.full(gpot.size, mtt_h), np.full(gpot.size, 2.3),
               np.full(gpot.size, 0.17))
    in_cycle = (with_gcsf.grid_h >= 0) & (with_gcsf.grid_h <= CYCLE_H)

    nadirs = simulate(*patient, gpot, with_gcsf)[in_cycle].min(axis=0)
    plain_nadir = simulate(*patient, np.zeros(gpot.size), without)[in_cycle].min(axis=0)

    assert np.all(nadirs > plain_nadir)

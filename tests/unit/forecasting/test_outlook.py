"""The kernel's cycle measures and G-CSF plans used by the outlook and the scenarios."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.forecasting.gcsf import gcsf_plan
from monitoring.forecasting.outlook import cycle_measures, prior_for, regimen_outlook


def test_days_below_grade4_are_measured_from_the_trajectory():
    grid_h = np.arange(0.0, 21 * 24 + 6.1, 6.0)
    # A count that is 0.3 x10^9/L from day 8 (hour 168) to day 11 (hour 240) and 3.0 otherwise.
    anc = np.where((grid_h >= 168) & (grid_h <= 240), 0.3, 3.0)[:, None]

    measures = cycle_measures(anc, grid_h, 0.0, 21 * 24.0)

    assert measures.nadir[0] == pytest.approx(0.3)
    assert 2.8 <= measures.dsn_days[0] <= 3.3
    assert measures.nadir_day[0] == pytest.approx(8.0, abs=0.3)
    assert measures.next_day1_anc[0] == pytest.approx(3.0)


def test_gcsf_plans_follow_the_label_days():
    assert gcsf_plan("none") == ([], [])
    assert gcsf_plan("peg", day1_h=100.0) == ([124.0], ["pegfilgrastim"])
    hours, products = gcsf_plan("filgrastim")
    assert hours[0] == 48.0 and hours[-1] == 9 * 24.0 and set(products) == {"filgrastim"}
    with pytest.raises(ValueError, match="unknown G-CSF choice"):
        gcsf_plan("sargramostim")


def test_same_seed_gives_the_same_outlook_and_gcsf_is_paired():
    prior = prior_for("DOCETAXEL-75-Q3W", 21)
    first, again = regimen_outlook(prior, patients=500), regimen_outlook(prior, patients=500)
    assert first == again
    # Same virtual patients with and without G-CSF: G-CSF never deepens a patient's nadir on average.
    assert regimen_outlook(prior, gcsf="peg", patients=500)["nadir_median"] > first["nadir_median"]


def test_gcsf_waits_24_hours_after_a_pump_ends():
    # FOLFOX: the 5-FU pump runs 46 h, so pegfilgrastim goes at 70 h, not on day 2.
    assert gcsf_plan("peg", infusion_h=46.0) == ([70.0], ["pegfilgrastim"])
    assert gcsf_plan("filgrastim", infusion_h=46.0)[0][0] == 70.0


def test_a_resumed_simulation_equals_one_run():
    from monitoring.forecasting.model import Occasion, build_schedule, simulate

    schedule = build_schedule([-504.0, 0.0], [1.0, 1.0], 0.0, np.log(2) / 8.0, [24.0], ["pegfilgrastim"], 600.0)
    params = [np.array([5.0, 3.0]), np.array([85.0, 110.0]), np.array([3.0, 5.0]), np.array([0.15, 0.2]),
              np.array([2.0, 0.5])]
    occasion = Occasion(start_h=-12.0, kill_factor=np.array([1.2, 0.8]), mtt_factor=np.ones(2),
                        damage=np.array([0.01, 0.03]))
    whole = simulate(*params, schedule, occasion=occasion)
    split = int(np.searchsorted(schedule.grid_h, -12.0 - 1e-9))
    _, state = simulate(*params, schedule, n_steps=split, occasion=occasion, return_state=True)
    resumed = simulate(*params, schedule, occasion=occasion, initial=state, start_step=split)

    assert np.allclose(resumed[split:], whole[split:], rtol=1e-12)
    assert np.isnan(resumed[:split]).all()


def test_a_gcsf_regimens_outlook_without_its_gcsf_is_far_deeper():
    # TC always given with pegfilgrastim states its nadir with it; the counterfactual without
    # pegfilgrastim is deeper than TC's own (stated without G-CSF), and pegfilgrastim keeps a clear effect.
    with_peg_regimen, plain = prior_for("TC-Q3W-PEG", 21), prior_for("TC-Q3W", 21)
    on_schedule = regimen_outlook(with_peg_regimen, gcsf="peg", patients=500)
    without = regimen_outlook(with_peg_regimen, gcsf="none", patients=500)

    assert without["grade4_incidence"] > on_schedule["grade4_incidence"] + 0.25
    assert without["dsn_days_mean"] > 2 * on_schedule["dsn_days_mean"]
    assert without["grade4_incidence"] > regimen_outlook(plain, patients=500)["grade4_incidence"]

"""The misspecified cohorts of bench/cohorts/ and their oracle: the yardstick the engine is judged by.

A benchmark's ratio to its oracle means something only if the cohorts come back the same from a
seed and the oracle is a trustworthy Bayes limit: right-sized 80 % intervals on data from its own
model, and clearly sharper than the population prior.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from tests.unit.forecasting import bench_cohorts
from tests.unit.forecasting.bench_cohorts import oracle, simulate, truth_model


def test_a_cohort_comes_back_the_same_from_its_seed_and_differs_with_another():
    cohort = simulate.COHORTS["lab-drift"]
    rows = simulate.build(cohort, seed=5, per_regimen=2)
    assert rows == simulate.build(cohort, seed=5, per_regimen=2)
    assert rows != simulate.build(cohort, seed=6, per_regimen=2)
    for history, truth in rows:
        assert truth["grade4"] == (truth["nadir_anc"] < 0.5)
        assert 1.0 <= truth["nadir_day"] <= history["regimen"]["cycle_length_days"] + 1
        assert len(history["counts"]) == truth["n_counts"] >= 1


def test_each_departure_acts_and_is_switched_off_in_the_textbook_control():
    regimen = simulate.MIXED[0]
    ones = np.ones(2)

    def resting_count_after(departures, cycles: int = 4) -> np.ndarray:
        patients = truth_model.draw_patients(regimen, departures, np.zeros((len(truth_model.STATIC), 2)))
        for cycle in range(cycles):
            occasion = truth_model.draw_occasion(departures, patients, cycle, np.zeros((5, 2)))
            truth_model.run_cycle(patients, occasion, regimen, ones)
        return patients.state[5]

    textbook = resting_count_after(truth_model.Departures())
    damaged = resting_count_after(truth_model.Departures(damage_median=0.04))
    assert np.all(damaged < 0.93 * textbook)  # about 4 % of the baseline lost per dose, 4 doses
    assert np.all(truth_model.static_sds(regimen, simulate.COHORTS["textbook"].departures)[5:] == 0)
    assert np.all(truth_model.cycle_sds(simulate.COHORTS["textbook"].departures, 2) == 0)


def test_the_heavy_tailed_lab_error_density_is_the_scaled_student_t():
    departures = truth_model.Departures(noise_sd=0.15, noise_df=3.0)
    residual = np.linspace(-2.0, 2.0, 9)
    expected = stats.t.logpdf(residual / 0.15, 3.0) - math.log(0.15)
    assert np.allclose(truth_model.lab_log_density(residual, departures), expected)
    normal = truth_model.Departures(noise_sd=0.2)
    assert np.allclose(truth_model.lab_log_density(residual, normal), stats.norm.logpdf(residual, scale=0.2))


def test_the_oracle_is_calibrated_on_its_own_model_and_sharper_than_the_prior():
    """80 % intervals cover about 80 % of true nadirs (60 patients: one SE is 0.05, so 0.65-0.95 is
    3 SE), the counts at least halve the error of the prior's forecast (measured: 0.08 against 0.33,
    coverage 0.85), and most histories keep over 100 effective draws."""
    regimen = simulate.MIXED[2]  # 14-day cycles with filgrastim: the cheapest to simulate
    departures = truth_model.Departures()
    rows = simulate.regimen_cohort(regimen, departures, 60, np.random.default_rng(3), "t")
    histories = [h for h, _ in rows]
    truth = {t["id"]: t for _, t in rows}
    found = oracle.filter_regimen(histories, regimen, departures, 200, np.random.default_rng(1), rounds=4)
    blind = oracle.filter_regimen([{**h, "counts": []} for h in histories], regimen, departures, 400,
                                  np.random.default_rng(1), rounds=1)

    def errors(forecasts):
        return [abs(math.log10(f["nadir"]["anc"] / truth[f["id"]]["nadir_anc"])) for f in forecasts]

    covered = [f["nadir"]["interval80"][0] <= truth[f["id"]]["nadir_anc"] <= f["nadir"]["interval80"][1]
               for f in found]
    assert 0.65 <= np.mean(covered) <= 0.95
    assert np.median(errors(found)) < 0.5 * np.median(errors(blind))
    assert np.median([f["ess"] for f in found]) > 100


def test_the_oracle_reads_a_history_by_cycle_whatever_the_unit():
    regimen = simulate.MIXED[3]
    history, _ = simulate.regimen_cohort(regimen, truth_model.Departures(), 1, np.random.default_rng(11), "u")[0]
    as_cells = replace(oracle._read(history, regimen))
    history["counts"] = [{**c, "anc": round(c["anc"] * 1000) if c["unit"] != "/uL" else c["anc"], "unit": "/uL"}
                         for c in history["counts"]]
    case = oracle._read(history, regimen)
    assert case.target == as_cells.target
    assert sorted(case.counts) == sorted(as_cells.counts)
    for cycle, counts in case.counts.items():
        assert all(0 <= hour < 21 * 24 for hour, _ in counts)
        assert np.allclose([v for _, v in counts], [v for _, v in as_cells.counts[cycle]], rtol=0.01, atol=0.001)


def test_the_calibration_check_records_the_random_effects_the_generator_drew():
    """``oracle_check.py`` ranks the true random effects in the oracle's posterior: it must hold the
    very standard normals that made each history (the oracle's model then gives back its true nadir)."""
    check = bench_cohorts.load("oracle_check")
    cohort = simulate.COHORTS["transit-baseline"]
    rows = check.build_recorded(cohort, seed=5, per_regimen=2)
    assert [(history, truth) for history, truth, *_ in rows] == simulate.build(cohort, seed=5, per_regimen=2)
    for history, truth, regimen, z in rows:
        case = oracle._read(history, regimen)
        dims = len(truth_model.STATIC) + len(truth_model.PER_CYCLE) * (case.target + 1)
        _, nadir, _ = oracle.simulate_cases([case], regimen, cohort.departures, z[:dims, None].copy())
        assert nadir[0] == pytest.approx(truth["nadir_anc"], abs=1e-4)

"""The synthetic cohort simulator used to judge the forecasting engine on regimens it has not seen."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from monitoring.forecasting import forecast_history, known_regimen_codes

SPEC = importlib.util.spec_from_file_location(
    "synthetic_cohort", Path(__file__).resolve().parents[3] / "bench" / "synthetic_cohort.py")
synthetic_cohort = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = synthetic_cohort  # dataclasses look their module up there
SPEC.loader.exec_module(synthetic_cohort)


def test_cohorts_are_deterministic_and_use_regimens_the_engine_does_not_know():
    rows = synthetic_cohort.build("gcsf", seed=5, per_regimen=2)
    assert rows == synthetic_cohort.build("gcsf", seed=5, per_regimen=2)
    assert rows != synthetic_cohort.build("gcsf", seed=6, per_regimen=2)
    for history, truth in rows:
        assert history["regimen"]["code"] not in known_regimen_codes()
        assert 0 < truth["nadir_anc"] < 20 and 1 <= truth["nadir_day"] <= history["regimen"]["cycle_length_days"] + 1
        assert truth["grade4"] == (truth["nadir_anc"] < 0.5)
        forecast = forecast_history(history)
        assert any("generic prior" in warning for warning in forecast["warnings"])


def test_departures_lower_the_baseline_over_cycles_and_vary_nadirs_between_cycles():
    """Misspecified regimens: damage lowers the marrow's baseline dose by dose, IOV moves each
    cycle's nadir; without departures, neither (the same regimen otherwise)."""
    regimen = next(r for r in synthetic_cohort.KINDS["misspecified"] if r.code == "MS-D1D8-Q3W")
    plain = synthetic_cohort.replace(regimen, system=synthetic_cohort.replace(
        regimen.system, iov_slope=0.0, damage_per_dose=0.0, outlier_rate=0.0))
    params = {"circ0": np.full(2, 5.0), "mtt_h": np.full(2, 120.0), "slope": np.full(2, 0.5),
              "gamma": np.full(2, 0.2), "gcsf": np.zeros(2)}
    end_h = 4 * 21 * 24.0
    n = int(end_h / synthetic_cohort.STEP_H)
    drug = np.zeros((n, 2))
    for cycle in range(3):
        for day in (1, 8):
            drug[int((cycle * 21 + day - 1) * 24 / synthetic_cohort.STEP_H)] = 1.0
    zeros = np.zeros((n, 2))
    damaged = synthetic_cohort._simulate(params, regimen.system, end_h, drug, zeros, zeros,
                                         np.array([0.0, 0.05]), drug)
    assert damaged[-1, 1] < 0.85 * damaged[-1, 0]
    rows = synthetic_cohort.regimen_cohort(regimen, 2, seed=3)
    assert rows == synthetic_cohort.regimen_cohort(regimen, 2, seed=3)
    assert rows != synthetic_cohort.regimen_cohort(plain, 2, seed=3)

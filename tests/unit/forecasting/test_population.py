"""Regimen priors learned from many patients' counts (empirical Bayes, forecasting/population.py)."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from monitoring.forecasting import (
    HistoryError,
    forecast_batch,
    forecast_history,
    learn_populations,
    population_from_dict,
    population_to_dict,
    regimen_key,
)
from monitoring.forecasting.engine import fit_history
from monitoring.forecasting.population import MIN_PATIENTS

SPEC = importlib.util.spec_from_file_location(
    "synthetic_cohort", Path(__file__).resolve().parents[3] / "bench" / "synthetic_cohort.py")
synthetic_cohort = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = synthetic_cohort
SPEC.loader.exec_module(synthetic_cohort)

# An "intermediate" FN-risk regimen the engine has no prior for, but far more myelosuppressive
# than the generic intermediate prior assumes (typical first-cycle nadir 0.15 instead of 0.7).
DEEP = synthetic_cohort.Regimen("QQ-DEEP-Q3W", "Qq-deep q3w", 21, (1,), "intermediate", 0.15)
KILL, GPOT = 2, 4  # indices of the potency and the G-CSF response among the log-parameters


@pytest.fixture(scope="module")
def deep_cohort() -> list[tuple[dict, dict]]:
    return synthetic_cohort.regimen_cohort(DEEP, 24, seed=11)


def first_cycle(history: dict) -> dict:
    """Return the same patient at the start of cycle 1: one pre-dose count, the day-1 dose."""
    first = copy.deepcopy(history)
    first["id"] = f"{history['id']}-c1"
    first["doses"] = history["doses"][:1]
    first["gcsf"] = []
    first["counts"] = history["counts"][:1]
    first["forecast_cycle_start"] = history["doses"][0]["time"]
    return first


def test_learned_prior_moves_towards_the_regimen_the_counts_show(deep_cohort):
    histories = [history for history, _ in deep_cohort]
    learned = learn_populations(histories)[regimen_key(histories[0])]
    generic = fit_history(histories[0]).prior
    assert learned.patients == 24 and 0 < learned.informative <= 24
    assert learned.log_mean[KILL] > generic.log_mean()[KILL] + np.log(1.5)
    # Nobody had G-CSF, so nothing was learned about the response to it: that part stays the prior's.
    assert (learned.log_mean[GPOT], learned.log_sd[GPOT]) == pytest.approx(
        (generic.log_mean()[GPOT], generic.log_sd()[GPOT]))
    # A new patient starting cycle 1 has no counts after a dose: only the prior speaks.
    newcomer = first_cycle(histories[0])
    with_generic = forecast_history(newcomer)
    with_learned = forecast_history(newcomer, learned)
    assert with_learned["nadir"]["anc"] < with_generic["nadir"]["anc"]
    assert with_learned["p_grade4"] > with_generic["p_grade4"]
    assert any("learned from 24 patients" in warning for warning in with_learned["warnings"])


def test_learned_prior_predicts_the_cohort_better_than_the_generic_one(deep_cohort):
    histories = [history for history, _ in deep_cohort]
    truths = [truth for _, truth in deep_cohort]
    learned = learn_populations(histories)[regimen_key(histories[0])]

    def median_log_error(population) -> float:
        errors = [abs(np.log10(forecast_history(h, population)["nadir"]["anc"] / t["nadir_anc"]))
                  for h, t in zip(histories, truths, strict=True)]
        return float(np.median(errors))

    assert median_log_error(learned) < median_log_error(None)


def test_learned_spread_cannot_collapse_to_nothing():
    # Every patient the same (no inter-individual variability): the learned spread stays at the
    # literature variability, and the band stays a band.
    identical = synthetic_cohort.Regimen(
        "QQ-SAME-Q3W", "Qq-same q3w", 21, (1,), "intermediate", 0.6,
        system=synthetic_cohort.System(iiv={"circ0": 0.0, "mtt_h": 0.0, "slope": 0.0, "gamma": 0.0, "gcsf": 0.0}))
    histories = [h for h, _ in synthetic_cohort.regimen_cohort(identical, MIN_PATIENTS, seed=3)]
    learned = learn_populations(histories)[regimen_key(histories[0])]
    literature = fit_history(histories[0]).prior.iiv
    assert all(learned.log_sd[i] >= literature[name] for i, name in enumerate(["circ0", "mtt_h", "kill", "gamma"]))
    forecast = forecast_history(first_cycle(histories[0]), learned)
    low, high = forecast["nadir"]["interval80"]
    assert low < forecast["nadir"]["anc"] < high


def test_too_few_patients_keep_the_literature_or_generic_prior(deep_cohort):
    histories = [history for history, _ in deep_cohort][: MIN_PATIENTS - 1]
    assert learn_populations(histories) == {}


def test_regimens_are_learned_apart_and_aliases_join():
    a = {"regimen": {"code": "tc-75-600-q3w", "cycle_length_days": 21}}
    b = {"regimen": {"code": "TC-Q3W", "cycle_length_days": 21}}
    c = {"regimen": {"code": "TC-Q3W", "cycle_length_days": 14}}
    assert regimen_key(a) == regimen_key(b) != regimen_key(c)
    assert regimen_key("not a history") == regimen_key({"regimen": "TC"}) == ""


def test_stored_form_round_trips(deep_cohort):
    histories = [history for history, _ in deep_cohort]
    learned = learn_populations(histories)[regimen_key(histories[0])]
    again = population_from_dict(population_to_dict(learned))
    assert forecast_history(histories[0], again) == forecast_history(histories[0], learned)


def test_batch_answers_every_history_and_pools_only_when_asked(deep_cohort):
    histories = [history for history, _ in deep_cohort][:MIN_PATIENTS]
    broken = {"id": "broken", "regimen": DEEP.code}
    batch = [histories[0], broken, *histories[1:], ["not", "an", "object"]]
    pooled = forecast_batch(batch)
    assert len(pooled) == len(batch)
    assert pooled[1]["id"] == "broken" and "regimen" in pooled[1]["error"]
    assert pooled[-1]["id"] is None and "expected a JSON object" in pooled[-1]["error"]
    assert all(any("learned from" in w for w in p["warnings"]) for p in pooled if "error" not in p)
    plain = forecast_batch(batch, pooling=False)
    assert plain[0] == forecast_history(histories[0])
    assert not any("learned from" in w for p in plain if "error" not in p for w in p["warnings"])
    with pytest.raises(HistoryError):
        forecast_history(broken)

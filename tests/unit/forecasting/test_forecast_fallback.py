"""Every history gets a forecast: an impossible count is set aside, an unfittable history gets the
population forecast flagged with the reason (issue 23, part 1 item 3)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from monitoring.forecasting import HistoryError, engine, forecast_batch, forecast_history
from tests.unit.forecasting.histories import docetaxel_history


def pegfilgrastim_history() -> dict:
    """A cycle-2 history with pegfilgrastim in cycle 1 and a G-CSF-boosted count hit by a lab error."""
    history = docetaxel_history(gcsf=[{"time": "2026-05-12T11:00", "product": "pegfilgrastim"}])
    history["counts"].insert(1, {"time": "2026-05-13T10:00", "anc": 176, "unit": "10^9/L"})
    return history


def test_an_impossible_count_is_set_aside_with_a_word_and_the_rest_forecast():
    history = pegfilgrastim_history()
    without = copy.deepcopy(history)
    del without["counts"][1]

    forecast = forecast_history(history)

    assert "error" not in forecast and "fallback" not in forecast
    assert any(w.startswith("counts[1]: 176 10^9/L is 176 x10^9/L, not plausible") and "set aside" in w
               for w in forecast["warnings"])
    # The count is simply not used: the forecast is the one without it.
    assert forecast["nadir"] == forecast_history(without)["nadir"]
    assert forecast["p_grade4"] == forecast_history(without)["p_grade4"]


def test_an_impossible_count_in_cells_per_microlitre_is_set_aside_too():
    history = docetaxel_history()
    history["counts"].append({"time": "2026-05-28T10:00", "anc": 212000, "unit": "/uL"})

    forecast = forecast_history(history)

    assert any("212 x10^9/L, not plausible" in w for w in forecast["warnings"])


def test_a_unit_mix_up_is_set_aside_not_refused():
    # 3000 labelled 10^3/uL (cells/uL meant): refused whole before issue 23, set aside now.
    history = docetaxel_history()
    history["counts"][0].update(anc=3000, unit="10^3/uL")

    forecast = forecast_history(history)

    assert any(w.startswith("counts[0]: 3000 10^3/uL is 3000 x10^9/L") and "unit mix-up" in w
               for w in forecast["warnings"])


def test_the_batch_forecasts_every_history_with_impossible_counts():
    histories = [pegfilgrastim_history(), docetaxel_history(id="p2")]
    histories[1]["counts"].append({"time": "2026-05-28T10:00", "anc": 212, "unit": "10^9/L"})

    results = forecast_batch(histories, pooling=False)

    assert [r.get("error") for r in results] == [None, None]
    assert all(0 < r["nadir"]["anc"] < 10 for r in results)


def test_a_malformed_history_is_still_refused_in_words():
    with pytest.raises(HistoryError, match="counts\\[0\\].unit: unknown unit 'mmol'"):
        forecast_history(docetaxel_history(counts=[{"time": "2026-05-11T07:00", "anc": 4.8, "unit": "mmol"}]))


def _sampler_fails(*args, **kwargs):
    # The way the importance sampler can fail on extreme counts: a proposal covariance that is not
    # positive definite (numpy raises it from the Cholesky factorisation).
    raise np.linalg.LinAlgError("Matrix is not positive definite")


def test_a_history_the_engine_cannot_fit_gets_the_population_forecast_flagged(monkeypatch):
    history = docetaxel_history()
    population = forecast_history(docetaxel_history(counts=[]))
    real_sampler = engine.sample_posterior

    def fails_only_with_counts(dims, evaluate, has_data, rng):
        return _sampler_fails() if has_data else real_sampler(dims, evaluate, has_data, rng)

    monkeypatch.setattr(engine, "sample_posterior", fails_only_with_counts)
    forecast = forecast_history(history)

    assert forecast["fallback"] == "the engine failed on these counts (Matrix is not positive definite)"
    assert any("population forecast for the regimen with its wide band" in w for w in forecast["warnings"])
    assert not any(w.startswith("no counts yet") for w in forecast["warnings"])
    assert forecast["nadir"]["interval80"] == population["nadir"]["interval80"]
    low, high = forecast["nadir"]["interval80"]
    assert high / low > 5   # wide: it knows the regimen, not the patient


def test_a_population_fallback_still_honours_a_grade_4_count_seen_in_the_cycle(monkeypatch):
    history = docetaxel_history()
    history["counts"].append({"time": "2026-06-08T10:00", "anc": 0.3, "unit": "10^9/L"})
    real_sampler = engine.sample_posterior

    def one_draw(dims, evaluate, has_data, rng):
        posterior = real_sampler(dims, evaluate, has_data, rng)
        if has_data:
            posterior.ess = 1.2
        return posterior

    monkeypatch.setattr(engine, "sample_posterior", one_draw)
    forecast = forecast_history(history)

    assert forecast["fallback"].startswith("the counts could not be fitted together (effective sample size 1.2)")
    assert forecast["p_grade4"] == 1.0
    assert forecast["nadir"]["anc"] <= 0.3

"""The synthetic cohort simulator used to judge the forecasting engine on regimens it has not seen."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from monitoring.forecasting import forecast_history, known_regimen_codes

SPEC = importlib.util.spec_from_file_location(
    "synthetic_cohort", Path(__file__).resolve().parents[2] / "bench" / "synthetic_cohort.py")
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

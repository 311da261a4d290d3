"""Forecasts in the clinic: which inputs a change touches, recomputing a cycle's forecast with the
pure `monitoring.forecasting` kernel, scoring forecasts against later counts, learning priors.

- `inputs`: the cycles a change touches, marked stale and published for recompute on commit;
- `recompute`: one cycle's forecast from everything known now (the worker), and catching up;
- `scoring`: calibration in the clinic; `learning`: each regimen's prior from its own patients.

Callers outside this package use the names re-exported here.
"""

from monitoring.forecasts.inputs import FUTURE_TOLERANCE, affected_cycle_ids, mark_inputs_changed
from monitoring.forecasts.learning import learn_regimen_priors
from monitoring.forecasts.recompute import fan_out_recomputes, recompute_cycle, recompute_stale
from monitoring.forecasts.scoring import score_forecast

__all__ = ["FUTURE_TOLERANCE", "affected_cycle_ids", "fan_out_recomputes", "learn_regimen_priors",
           "mark_inputs_changed", "recompute_cycle", "recompute_stale", "score_forecast"]

"""Nadir forecasting engine: Friberg myelosuppression model with K-PD drug and G-CSF effects.

Pure Python with numpy and scipy; imports no Django and never reads the clock (``as_of`` is passed
in the history). The app calls :func:`forecast_history` with one history in the nadir-bench input
format (and the regimen's learned prior, if it has one) and gets the nadir-bench output object back.
:func:`learn_populations` learns regimen priors from many patients' histories; :func:`forecast_batch`
does both for a batch, as the ``forecast`` command does.
"""

from .engine import forecast_history
from .errors import HistoryError
from .population import (
    forecast_batch,
    learn_populations,
    population_from_dict,
    population_to_dict,
    regimen_key,
)
from .priors import PopulationPrior, known_regimen_codes

__all__ = [
    "HistoryError",
    "PopulationPrior",
    "forecast_batch",
    "forecast_history",
    "known_regimen_codes",
    "learn_populations",
    "population_from_dict",
    "population_to_dict",
    "regimen_key",
]

"""Nadir forecasting engine: Friberg myelosuppression model with K-PD drug and G-CSF effects.

Pure Python with numpy and scipy; imports no Django and never reads the clock (``as_of`` is passed
in the history). The app calls :func:`forecast_history` with one history in the nadir-bench input
format and gets the nadir-bench output object back.
"""

from .engine import forecast_history
from .errors import HistoryError
from .priors import known_regimen_codes

__all__ = ["HistoryError", "forecast_history", "known_regimen_codes"]

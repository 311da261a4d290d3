"""Shared constants and grid interpolation for the engine, its summaries and the scenarios."""

from __future__ import annotations

import numpy as np

from .history import History

# CTCAE v5.0 neutrophil count decreased: grade 4 below 0.5, grade 3 or worse below 1.0 x10^9/L.
GRADE4_BELOW = 0.5
GRADE3_BELOW = 1.0
# Counts of 0 are reported; the likelihood works on the log scale, so floor them at a value below
# the reporting resolution of automated counters.
ANC_FLOOR = 0.01
# A dose within this many hours of the planned day is taken to be that day's dose.
DOSE_MATCH_H = 12.0
RANDOM_SEED = 20021201


def _interpolation(grid_h: np.ndarray, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return left indices and weights to interpolate grid values at ``hours``."""
    position = np.clip((hours - grid_h[0]) / (grid_h[1] - grid_h[0]), 0.0, grid_h.size - 1.000001)
    index = np.floor(position).astype(int)
    return index, position - index


def _iso(history: History, hours: float) -> str:
    return history.to_datetime(hours).isoformat(timespec="minutes")


def _measured_in_cycle(history: History, length_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the hours and values of the counts measured in the forecast cycle itself."""
    hours = np.asarray(history.count_hours, float)
    values = np.maximum(np.asarray(history.anc_1e9_per_l, float), ANC_FLOOR)
    inside = (hours >= 0) & (hours <= length_h)
    return hours[inside], values[inside]

"""Suggest the day of the next count: the one that tells most about grade 4, or that catches the nadir."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .grid import GRADE4_BELOW, RANDOM_SEED, _interpolation, _iso, _measured_in_cycle
from .history import HOURS_PER_DAY

if TYPE_CHECKING:
    from .engine import Fit


# A count is drawn in the morning; the candidate moment of day k is this many hours before the
# day-1 dose's clock time on that day (a 09:00 dose: 08:00).
MORNING_OFFSET_H = 1.0
# Below this expected information (bits) about grade 4, one more count is not worth it for that
# question, and the suggestion is to catch the nadir instead.
MIN_INFORMATION_BITS = 0.02
NEXT_COUNT_DRAWS = 100   # enough to rank days; the kernel step costs draws^2 per day


def _entropy_bits(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def next_count(fit: Fit, nadir: np.ndarray, nadir_h: np.ndarray, length_h: float,
                grade4_measured: bool) -> dict | None:
    """Return the day on which one more count would tell most about grade 4 (or catch the nadir).

    For each remaining day of the cycle, the expected information a count that day gives about
    "nadir < 0.5" is the entropy of P(grade 4) now minus its expected entropy after the count; the
    count's outcome is simulated from the posterior draws with their residual error, and P(grade 4
    | count) is read from the draws near it (a Gaussian kernel as wide as the residual). When grade 4
    is already certain either way, the suggestion is the day of the predicted nadir.
    """
    history = fit.history
    in_cycle, _ = _measured_in_cycle(history, length_h)
    start_h = max([0.0, *in_cycle, *([history.as_of_h] if history.as_of_h is not None else [])])
    days = np.arange(2, int(history.regimen.cycle_length_days) + 1)
    hours = (days - 1) * HOURS_PER_DAY - MORNING_OFFSET_H
    later = hours > start_h + 6.0
    days, hours = days[later], hours[later]
    if grade4_measured or not days.size:
        return None
    # Every k-th draw: resampled draws come in runs of copies, so a stride spreads the subsample.
    draws = np.arange(0, nadir.size, max(1, nadir.size // NEXT_COUNT_DRAWS))
    grade4 = (nadir[draws] < GRADE4_BELOW).astype(float)
    p_now = grade4.mean()
    best_day, reason = None, "nadir"
    if 0.0 < p_now < 1.0:
        index, weight = _interpolation(fit.grid_h, hours)
        circ = fit.circ[:, draws]
        values = np.log(circ[index] * (1 - weight[:, None]) + circ[index + 1] * weight[:, None])
        noise_sd = fit.residual_sd[draws]
        bandwidth = float(np.median(noise_sd))
        rng = np.random.default_rng(RANDOM_SEED + 2)
        outcomes = values + noise_sd[None, :] * rng.standard_normal(values.shape)   # (days, draws)
        kernel = np.exp(-0.5 * ((outcomes[:, :, None] - values[:, None, :]) / bandwidth) ** 2)
        p_after = (kernel @ grade4) / kernel.sum(axis=2)
        information = _entropy_bits(np.array(p_now)) - _entropy_bits(p_after).mean(axis=1)
        if information.max() >= MIN_INFORMATION_BITS:
            best_day, reason = int(days[np.argmax(information)]), "grade4"
    if best_day is None:
        nadir_day = 1 + float(np.median(nadir_h)) / HOURS_PER_DAY
        if nadir_day < days[0] - 0.5:
            return None   # the nadir has passed: the next count is the pre-dose one
        best_day = int(days[np.argmin(np.abs(days - nadir_day))])
    moment = (best_day - 1) * HOURS_PER_DAY - MORNING_OFFSET_H
    return {"day_of_cycle": best_day, "time": _iso(history, moment), "reason": reason}

"""A regimen's calibration from its patients' earlier cycles, forecast again and compared with their counts.

Whatever makes a regimen's forecasts wrong (a drug sensitivity that varies from cycle to cycle,
cumulative marrow damage, a drifting lab, a badly learned potency of an unknown regimen, a G-CSF
response the model gets wrong), it makes the forecasts of its patients' earlier cycles wrong too,
and those cycles' counts are in the history. For each patient, every earlier cycle past the first
is forecast again from what was known at its day-1 dose (``back_forecasts``: the history cut there),
and every count measured in it is compared with that forecast's predictive distribution of a
measured count (the latent ANC draws plus the residual error).

The unit is the fall below baseline. Drug sensitivity, damage and a wrong potency all move a count
in proportion to how deep in the fall it lies (a pre-dose count barely, a count at the nadir most),
so a count's log residual is read as ``shift * fall`` plus noise whose variance is the predictive
one plus ``(spread * fall)^2`` (``estimate``). Both are per unit of log fall, so the nadir's
correction follows from its own fall (``apply``): each posterior draw of the forecast cycle has its
log fall scaled by ``1 + shift + spread * e`` (``e`` a standard normal per draw). Either is kept
only if the counts show it clearly (``CLEAR_DROP``); otherwise it is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid import DOSE_MATCH_H, RANDOM_SEED, _interpolation
from .history import HOURS_PER_DAY, History
from .priors import OUTLIER_LOG_SD, OUTLIER_SHARE, RESIDUAL_ADDITIVE

# A dose this long after the start of the current cycle (as a share of its length) starts the next
# cycle (so day 8 of a d1/d8 regimen does not, a delayed day 1 does).
NEW_CYCLE_SHARE = 0.75
# A cycle is forecast again only if a count lies this long after its day-1 dose.
AFTER_DOSE_H = 48.0
# Values tried: the shift (per unit of log fall) and the spread.
SHIFT_GRID = np.linspace(-0.6, 0.6, 61)
SPREAD_GRID = np.linspace(0.0, 0.8, 41)
# The log-likelihood must be this much higher than at none (about 2 standard errors: half of
# chi-square 4) for a shift or a spread to be kept.
CLEAR_DROP = 2.0
# Fewer held-out counts deep in a fall (below e^-0.5 of baseline) than this and nothing is learned.
MIN_DEEP_COUNTS = 8
DEEP_FALL = -0.5


@dataclass(frozen=True)
class HeldOut:
    """Counts of earlier cycles against their forecasts made at each cycle's day-1 dose."""

    residual: np.ndarray   # log count minus the forecast's median log ANC at that moment
    fall: np.ndarray       # the forecast's median log fall below baseline there (<= 0)
    variance: np.ndarray   # the forecast's predictive variance of the log count (latent + residual)

    @classmethod
    def join(cls, parts: list[HeldOut]) -> HeldOut:
        """Return the counts of all ``parts`` together."""
        if not parts:
            return cls(np.zeros(0), np.zeros(0), np.zeros(0))
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("residual", "fall", "variance")))

    @property
    def deep(self) -> int:
        return int(np.sum(self.fall < DEEP_FALL))


def cycle_starts(history: History) -> list[float]:
    """Return the day-1 dose hours of the cycles before the forecast cycle, oldest first."""
    length_h = history.regimen.cycle_length_days * HOURS_PER_DAY
    starts: list[float] = []
    for hour in sorted(h for h in history.dose_hours if h < -DOSE_MATCH_H):
        if not starts or hour - starts[-1] >= NEW_CYCLE_SHARE * length_h:
            starts.append(hour)
    return starts


def back_forecasts(history: History) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """Return, per earlier cycle past the first with a count after its dose, the history cut at its day 1.

    Each item: the cut history (nadir-bench format, that cycle as the forecast cycle), and the hours
    (from that cycle's day-1 dose) and values of the counts measured in the cycle, held out.
    """
    starts = cycle_starts(history)
    hours = np.asarray(history.count_hours, float)
    values = np.asarray(history.anc_1e9_per_l, float)
    cuts = []
    for start, end in zip(starts[1:], [*starts[2:], 0.0], strict=False):
        held = (hours >= start) & (hours < end - 1.0)
        if not np.any(hours[held] > start + AFTER_DOSE_H):
            continue
        cuts.append((_cut(history, start, end), hours[held] - start, values[held]))
    return cuts


def _cut(history: History, start: float, end: float) -> dict:
    """Return the history as it stood at the day-1 dose ``start``, whose cycle ends at ``end``."""
    regimen = history.regimen

    def time(hour: float) -> str:
        return history.to_datetime(hour).isoformat(timespec="minutes")

    before_next = end - DOSE_MATCH_H
    return {
        "id": f"{history.id}@{time(start)}",
        "regimen": {"code": regimen.code, "name": regimen.name, "cycle_length_days": regimen.cycle_length_days,
                    "fn_risk": regimen.fn_risk, "next_cycle_anc": regimen.next_cycle_anc,
                    "chemo_days": list(regimen.chemo_days) if regimen.chemo_days else None},
        "doses": [{"time": time(h), "dose_fraction": f}
                  for h, f in zip(history.dose_hours, history.dose_fractions, strict=True) if h < before_next],
        "gcsf": [{"time": time(h), "product": p}
                 for h, p in zip(history.gcsf_hours, history.gcsf_products, strict=True) if h < before_next],
        "counts": [{"time": time(h), "anc": a, "unit": "10^9/L"}
                   for h, a in zip(history.count_hours, history.anc_1e9_per_l, strict=True) if h < start],
        "forecast_cycle_start": time(start),
    }


def held_out(fit, hours: np.ndarray, values: np.ndarray) -> HeldOut:
    """Return the held-out counts of one cut history against its fit (an ``engine.Fit``)."""
    inside = hours <= fit.grid_h[-1]
    hours, values = hours[inside], np.maximum(values[inside], 0.01)
    index, weight = _interpolation(fit.grid_h, hours)
    latent = np.log(np.maximum(fit.circ[index] * (1 - weight[:, None]) + fit.circ[index + 1] * weight[:, None], 1e-6))
    median = np.median(latent, axis=1)
    fall = np.minimum(median - np.median(fit.log_params[:, 0]), 0.0)
    variance = np.var(latent, axis=1) + np.mean(fit.residual_sd**2) + (RESIDUAL_ADDITIVE / values) ** 2
    return HeldOut(np.log(values) - median, fall, variance)


def profile(counts: HeldOut) -> np.ndarray:
    """Return the log-likelihood of the held-out counts on the grid (shift x spread).

    Each count's residual is ``shift * fall`` plus an outlier mixture as the engine's likelihood
    (``engine._robust_loglik``) with variance ``variance + (spread * fall)^2``.
    """
    r, f, v = counts.residual, counts.fall, counts.variance
    location = SHIFT_GRID[:, None, None] * f
    scale = np.sqrt(v + (SPREAD_GRID[None, :, None] * f) ** 2)
    z = r - location
    inlier = np.log1p(-OUTLIER_SHARE) - np.log(scale) - 0.5 * (z / scale) ** 2
    outlier = np.log(OUTLIER_SHARE) - np.log(OUTLIER_LOG_SD) - 0.5 * (z / OUTLIER_LOG_SD) ** 2
    return np.logaddexp(inlier, outlier).sum(axis=2)


def estimate(counts: HeldOut) -> tuple[float, float]:
    """Return the regimen's (shift, spread): the most likely values, each 0 unless the counts show it clearly."""
    if counts.deep < MIN_DEEP_COUNTS:
        return 0.0, 0.0
    grid = profile(counts)
    best_shift, best_spread = np.unravel_index(np.argmax(grid), grid.shape)
    no_shift = int(np.argmin(np.abs(SHIFT_GRID)))
    shift = SHIFT_GRID[best_shift] if grid.max() - grid[no_shift].max() > CLEAR_DROP else 0.0
    chosen = best_shift if shift else no_shift
    spread = SPREAD_GRID[best_spread] if grid[chosen].max() - grid[chosen, 0] > CLEAR_DROP else 0.0
    if spread:
        spread = SPREAD_GRID[int(np.argmax(grid[chosen]))]
    return float(shift), float(spread)


def apply(circ: np.ndarray, grid_h: np.ndarray, log_circ0: np.ndarray, shift: float, spread: float) -> np.ndarray:
    """Return the simulated courses of the forecast cycle with their log fall scaled by ``1 + shift + spread * e``.

    ``e`` is a standard normal per draw (fixed seed); earlier cycles and counts above baseline (a
    G-CSF overshoot) are left as they are.
    """
    if not shift and not spread:
        return circ
    noise = np.random.default_rng(RANDOM_SEED + 2).standard_normal(circ.shape[1])
    fall = np.minimum(np.log(np.maximum(circ, 1e-9)) - log_circ0[None, :], 0.0)
    fall[grid_h < -DOSE_MATCH_H] = 0.0
    return circ * np.exp((shift + spread * noise)[None, :] * fall)

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
from scipy.special import ndtri

from .grid import DOSE_MATCH_H, RANDOM_SEED, _interpolation
from .history import HOURS_PER_DAY, History
from .priors import RESIDUAL_ADDITIVE

# A dose this long after the start of the current cycle (as a share of its length) starts the next
# cycle (so day 8 of a d1/d8 regimen does not, a delayed day 1 does).
NEW_CYCLE_SHARE = 0.75
# A cycle is forecast again only if a count lies this long after its day-1 dose.
AFTER_DOSE_H = 48.0
# Values tried: the shift (per unit of log fall) and the spread.
SHIFT_GRID = np.linspace(-0.5, 0.5, 41)
SPREAD_GRID = np.linspace(0.0, 0.8, 33)
# A shift or a spread is kept only beyond this many standard errors of the lowest counts' PIT quantiles.
CLEAR_SE = 2.0
# Fewer earlier cycles forecast again than this and nothing is learned.
MIN_CUTS = 8


@dataclass(frozen=True)
class HeldOut:
    """The counts of one earlier cycle after its dose, and its forecast made at its day-1 dose."""

    values: np.ndarray        # the counts measured (x10^9/L)
    latent: np.ndarray        # the forecast's ANC draws at those moments, shape (counts, draws)
    log_circ0: np.ndarray     # each draw's log baseline
    residual_sd: np.ndarray   # each draw's residual SD (log scale)


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


def held_out(fit, hours: np.ndarray, values: np.ndarray) -> HeldOut | None:
    """Return the held-out counts after the dose of one cut history with its fit (an ``engine.Fit``)."""
    inside = (hours <= fit.grid_h[-1]) & (hours > AFTER_DOSE_H)
    if not np.any(inside):
        return None
    index, weight = _interpolation(fit.grid_h, hours[inside])
    latent = fit.circ[index] * (1 - weight[:, None]) + fit.circ[index + 1] * weight[:, None]
    return HeldOut(np.maximum(values[inside], 0.01), latent, fit.log_params[:, 0], fit.residual_sd)


def lowest_count_z(cut: HeldOut, shift: float, spread: float) -> float:
    """Return the standard normal quantile of the PIT of the cycle's lowest count under the calibrated forecast.

    The lowest count is what a cycle's few counts say of its nadir. Its forecast distribution is that
    of the lowest of the counts the calibrated draws would give at the same moments (their latent
    ANC with each draw's residual error).
    """
    latent = _calibrated(cut.latent, cut.log_circ0, shift, spread)
    sd = np.sqrt(cut.residual_sd[None, :] ** 2 + (RESIDUAL_ADDITIVE / np.maximum(latent, 1e-6)) ** 2)
    noise = np.random.default_rng(RANDOM_SEED + 4).standard_normal(latent.shape)
    lowest = np.min(np.log(np.maximum(latent, 1e-9)) + sd * noise, axis=0)
    observed = np.log(cut.values.min())
    pit = (np.sum(lowest < observed) + 0.5) / (lowest.size + 1)
    return float(ndtri(pit))


def estimate(cuts: list[HeldOut]) -> tuple[float, float]:
    """Return the regimen's (shift, spread), each 0 unless the lowest counts show it beyond CLEAR_SE standard errors.

    Shift: the lowest counts' PIT quantiles z should average 0; spread: their SD should be 1.
    """
    if len(cuts) < MIN_CUTS:
        return 0.0, 0.0
    n = len(cuts)
    z = np.array([lowest_count_z(cut, 0.0, 0.0) for cut in cuts])
    shift = 0.0
    if abs(z.mean()) > CLEAR_SE * z.std(ddof=1) / np.sqrt(n):
        means = np.array([np.mean([lowest_count_z(cut, b, 0.0) for cut in cuts]) for b in SHIFT_GRID])
        shift = float(SHIFT_GRID[int(np.argmin(np.abs(means)))])
        z = np.array([lowest_count_z(cut, shift, 0.0) for cut in cuts])
    spread = 0.0
    if z.std(ddof=1) > 1.0 + CLEAR_SE / np.sqrt(2 * (n - 1)):
        for s in SPREAD_GRID[1:]:
            spread = float(s)
            if np.std([lowest_count_z(cut, shift, s) for cut in cuts], ddof=1) <= 1.0:
                break
    return shift, spread


def estimate_z(cuts: list[HeldOut]) -> float:
    """Return the mean PIT quantile of the cycles' lowest counts, or 0 unless beyond CLEAR_SE standard errors."""
    if len(cuts) < MIN_CUTS:
        return 0.0
    z = np.array([lowest_count_z(cut, 0.0, 0.0) for cut in cuts])
    return float(z.mean()) if abs(z.mean()) > CLEAR_SE * z.std(ddof=1) / np.sqrt(z.size) else 0.0


def apply_z(circ: np.ndarray, grid_h: np.ndarray, log_circ0: np.ndarray, nadirs: np.ndarray, z_shift: float) -> np.ndarray:
    """Return the courses with the forecast's nadir moved by ``z_shift`` of its own SD (log scale), via the fall."""
    log_nadir = np.log(np.maximum(nadirs, 1e-9))
    fall = float(np.median(log_nadir - log_circ0))
    if fall > -0.05:
        return circ
    shift = float(np.clip(z_shift * np.std(log_nadir) / fall, -0.5, 0.5))
    return apply(circ, grid_h, log_circ0, shift, 0.0)


def _calibrated(circ: np.ndarray, log_circ0: np.ndarray, shift: float, spread: float) -> np.ndarray:
    """Return courses with their log fall below baseline scaled by ``1 + shift + spread * e`` (``e`` per draw)."""
    if not shift and not spread:
        return circ
    noise = np.random.default_rng(RANDOM_SEED + 2).standard_normal(circ.shape[1])
    fall = np.minimum(np.log(np.maximum(circ, 1e-9)) - log_circ0[None, :], 0.0)
    return circ * np.exp((shift + spread * noise)[None, :] * fall)


def apply(circ: np.ndarray, grid_h: np.ndarray, log_circ0: np.ndarray, shift: float, spread: float) -> np.ndarray:
    """Return the simulated courses of the forecast cycle calibrated (earlier cycles left as they are).

    Each draw's log fall below baseline is scaled by ``1 + shift + spread * e``, ``e`` a standard
    normal per draw (fixed seed); counts above baseline (a G-CSF overshoot) are left as they are.
    """
    calibrated = _calibrated(circ, log_circ0, shift, spread)
    return np.where((grid_h >= -DOSE_MATCH_H)[:, None], calibrated, circ)

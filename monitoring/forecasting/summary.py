"""Summarise a fitted history as the nadir-bench forecast: nadir, band, grades, readiness, trajectory."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .grid import GRADE3_BELOW, GRADE4_BELOW, RANDOM_SEED, _interpolation, _iso, _measured_in_cycle
from .history import HOURS_PER_DAY
from .next_count import next_count
from .priors import RESIDUAL_ADDITIVE

if TYPE_CHECKING:
    from .engine import Fit

TRAJECTORY_STEP_H = 12.0


def _weighted_levels(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.quantile(values, [0.1, 0.5, 0.9], axis=axis)


def _nadirs(circ: np.ndarray, grid_h: np.ndarray, length_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Return each draw's nadir value and time within the cycle, refined by a parabola."""
    window = np.flatnonzero((grid_h >= 0) & (grid_h <= length_h))
    inside = circ[window]
    lowest = np.argmin(inside, axis=0)
    draws = np.arange(circ.shape[1])
    centre = np.clip(lowest, 1, window.size - 2)
    left, mid, right = (np.log(inside[centre + k, draws]) for k in (-1, 0, 1))
    curvature = left - 2 * mid + right
    safe = np.where(curvature > 1e-12, curvature, 1.0)
    shift = np.where(curvature > 1e-12, 0.5 * (left - right) / safe, 0.0)
    interior = (lowest > 0) & (lowest < window.size - 1)
    shift = np.where(interior, np.clip(shift, -0.5, 0.5), 0.0)
    log_value = np.where(interior, mid - 0.25 * (left - right) * shift, np.log(inside[lowest, draws]))
    step = grid_h[1] - grid_h[0]
    hours = grid_h[window[0]] + (np.where(interior, centre, lowest) + shift) * step
    return np.exp(log_value), hours


def _round(value: float, digits: int = 3) -> float:
    return float(round(float(value), digits))


def _anc(value: float) -> float:
    """Round an ANC to 3 significant digits, floored at 0.001 x10^9/L (below any lab's resolution)."""
    return float(f"{max(float(value), 0.001):.3g}")


# After the last count of the cycle, how long a departure from the model the counts showed takes to
# fade from a draw's course (linearly): about the week a marrow takes from nadir to recovery, so a
# draw brought down to a low count climbs back to its own course, not at once. Benchmarked (issue 22,
# mae_log10 / Brier): tuning cohort 3 days 0.0862 / 0.073, 7 days 0.0879 / 0.070, 14 days 0.0894 /
# 0.068; a misspecified synthetic cohort 0.243 / 0.203, 0.239 / 0.202, 0.248 / 0.196.
DEPARTURE_FADE_H = 7 * HOURS_PER_DAY


def _consistent_circ(fit: Fit, length_h: float) -> np.ndarray:
    """Return the simulated courses brought through the counts measured in the cycle.

    The latent count at a measured moment is the measured one give or take the draw's own residual
    error. Each draw's course is moved (on the log scale) to pass through its latent count at every
    measured moment: linearly between counts, from nothing at the day-1 dose, fading over
    DEPARTURE_FADE_H after the last count. So a forecast never claims a nadir above a count the
    nurse has in front of her, however the earlier cycles voted, and the nadir, P(grade 4), the
    next-count advice and the trajectory a chart draws are all read from these same courses: the
    header and the chart tell one forecast. (Moving courses both ways, not only down, keeps the
    nadir unbiased: on the tuning cohort mae_log10 0.0879 against 0.0883 lowering only.)
    """
    return fit.circ * np.exp(counts_shift(fit.history, fit.grid_h, fit.circ, fit.residual_sd, length_h))


def counts_shift(history, grid_h: np.ndarray, circ: np.ndarray, residual_sd: np.ndarray,
                 length_h: float) -> np.ndarray:
    """Return the log shift (grid x draws) that brings each course through the cycle's counts.

    See ``_consistent_circ``; the what-if scenarios move every scenario's course by the as-planned
    course's shift, so that the paired differences stay the scenario's own.
    """
    hours, values = _measured_in_cycle(history, length_h)
    if not values.size:
        return np.zeros_like(circ)
    order = np.argsort(hours, kind="stable")
    hours, values = hours[order], values[order]
    rng = np.random.default_rng(RANDOM_SEED + 1)
    noise = rng.standard_normal((values.size, circ.shape[1]))
    spread = np.sqrt(residual_sd[None, :] ** 2 + (RESIDUAL_ADDITIVE / values[:, None]) ** 2)
    latent = values[:, None] * np.exp(spread * noise)
    index, weight = _interpolation(grid_h, hours)
    at_counts = circ[index] * (1 - weight[:, None]) + circ[index + 1] * weight[:, None]
    shift = np.log(latent) - np.log(np.maximum(at_counts, 1e-6))   # (counts, draws)
    # Two counts of one moment (a repeat on the same specimen): the lower one binds, whatever their order.
    hours, inverse = np.unique(hours, return_inverse=True)
    lowest = np.full((hours.size, shift.shape[1]), np.inf)
    np.minimum.at(lowest, inverse, shift)
    shift = lowest
    anchors_h = np.concatenate([[0.0], hours, [hours[-1] + DEPARTURE_FADE_H]])
    anchors = np.vstack([np.zeros(shift.shape[1]), shift, np.zeros(shift.shape[1])])
    # Piecewise-linear in time between the anchors, for every draw at once.
    right = np.clip(np.searchsorted(anchors_h, grid_h, side="right"), 1, anchors_h.size - 1)
    left = right - 1
    span = np.maximum(anchors_h[right] - anchors_h[left], 1e-9)
    share = np.clip((grid_h - anchors_h[left]) / span, 0.0, 1.0)[:, None]
    log_shift = anchors[left] * (1 - share) + anchors[right] * share
    outside = (grid_h < anchors_h[0]) | (grid_h > anchors_h[-1])
    log_shift[outside] = 0.0
    return log_shift


def measured_facts(lo: float, mid: float, hi: float, p_grade4: float,
                   lowest: float) -> tuple[float, float, float, float]:
    """Return the nadir band and P(grade 4) with the cycle's lowest measured count taken as a fact.

    A measured grade is a fact (CTCAE grades the measured count), not a probability; and the
    reported nadir is never above the lowest count already seen. The header and the what-if
    table's "as planned" row both say so through here.
    """
    mid = min(mid, lowest)
    return min(lo, mid), mid, max(hi, mid), (1.0 if lowest < GRADE4_BELOW else p_grade4)


def summarise(fit: Fit) -> dict:
    """Return the nadir-bench output object of a fit."""
    history, grid_h, warnings = fit.history, fit.grid_h, fit.warnings
    regimen = history.regimen
    length_h = regimen.cycle_length_days * HOURS_PER_DAY
    # Textbook fits too: a count near the nadir is within measurement error of the draws, yet half
    # of the latent counts fall below some draws' nadirs, and the header's nadir must not sit above
    # the counts while the chart's courses do.
    circ = _consistent_circ(fit, length_h) if fit.consistent else fit.circ
    fit = replace(fit, circ=circ)  # the next-count advice reads the same courses
    nadir, nadir_h = _nadirs(circ, grid_h, length_h)
    lo, mid, hi = _weighted_levels(nadir)
    p_grade4, p_grade3plus = float(np.mean(nadir < GRADE4_BELOW)), float(np.mean(nadir < GRADE3_BELOW))
    _, measured = _measured_in_cycle(history, length_h)
    suggested = next_count(fit, nadir, nadir_h, length_h, bool(measured.size and measured.min() < GRADE4_BELOW))
    if measured.size and fit.consistent:
        lo, mid, hi, p_grade4 = measured_facts(lo, mid, hi, p_grade4, float(measured.min()))
        p_grade3plus = 1.0 if measured.min() < GRADE3_BELOW else p_grade3plus
    nadir_time_h = float(np.median(nadir_h))
    index, weight = _interpolation(grid_h, np.array([length_h]))
    next_day1 = circ[index[0]] * (1 - weight[0]) + circ[index[0] + 1] * weight[0]
    # Every 12 h, plus the moments of the cycle's counts and of the predicted nadir: a chart of the
    # trajectory then shows the dip a low count makes and the nadir the header states.
    in_cycle_h, _ = _measured_in_cycle(history, length_h)
    trajectory_h = np.unique(np.round(np.concatenate([np.arange(0.0, grid_h[-1] + 1e-9, TRAJECTORY_STEP_H),
                                                      in_cycle_h, [nadir_time_h]]), 2))
    t_index, t_weight = _interpolation(grid_h, trajectory_h)
    values = circ[t_index] * (1 - t_weight[:, None]) + circ[t_index + 1] * t_weight[:, None]
    t_lo, t_mid, t_hi = _weighted_levels(values, axis=1)
    return {
        "id": history.id,
        "nadir": {"anc": _anc(mid), "day_of_cycle": _round(1 + nadir_time_h / HOURS_PER_DAY, 2),
                  "time": _iso(history, nadir_time_h), "interval80": [_anc(lo), _anc(hi)]},
        "p_grade4": _round(p_grade4),
        "p_grade3plus": _round(p_grade3plus),
        "readiness": {"next_day1": _iso(history, length_h),
                      "p_anc_ge_threshold": _round(np.mean(next_day1 >= regimen.next_cycle_anc)),
                      "threshold": regimen.next_cycle_anc},
        "trajectory": [{"time": _iso(history, h), "anc": _anc(m), "lo80": _anc(lo80), "hi80": _anc(hi80)}
                       for h, lo80, m, hi80 in zip(trajectory_h, t_lo, t_mid, t_hi, strict=True)],
        "next_count": suggested,
        "warnings": warnings,
    }

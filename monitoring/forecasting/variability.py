"""Does a regimen's drug sensitivity vary from cycle to cycle? A test across its patients.

One or two counts per earlier cycle seldom show one patient's cycle-to-cycle variability (IOV):
the patient's fit follows the average of their cycles, and the per-patient departure test
(``engine._departs``) rarely fires. A regimen's patients together do show it, in the difference
between two consecutive earlier cycles of the same patient: the fit's shared sensitivity moves
both cycles alike, so the difference of their residuals (counts deep in each cycle's fall) keeps
what the cycles' own sensitivities added, which grows with the depth of the falls, plus lab
error. The IOV is the scale that best explains these differences across the regimen's patients
(maximum likelihood on a grid; a Student-t density so that one gross lab error does not pass for
variability). Like the engine's own IOV (``engine._extras``), it is a Student-t's scale, not an SD:
for a normal variability it comes out at about 0.8 of its SD (0.24 for 0.3 on simulated pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from .grid import DOSE_MATCH_H, _interpolation
from .priors import RESIDUAL_LOG_SD

# Earlier-cycle counts this far below the fitted baseline (log scale) enter a cycle's residual.
# (At -1.0, as for the regimen's learned IOV, a regimen of 20 patients had 2-7 pairs of cycles.)
PAIR_FALL = -0.5
# Counts this close to baseline (log scale) measure the lab error alone.
NEAR_BASELINE = 0.3
# The Student-t's degrees of freedom for the differences: robust to one gross error, yet close
# enough to normal to keep most of the information of a few pairs.
PAIR_DF = 4.0
# The IOV values tried (log-scale SD of the sensitivity).
IOV_GRID = np.linspace(0.0, 1.0, 101)
# A normal variable's median squared value is this share of its variance.
MEDIAN_CHI2_1 = 0.455
# Drop of the log-likelihood from its maximum at the upper end of an 80 % likelihood interval
# (chi-square with 1 degree of freedom, 80 %: 1.64, halved).
UPPER_DROP = 0.82


@dataclass(frozen=True)
class CyclePairs:
    """A regimen's pairs of consecutive earlier cycles: residual differences and what scales them."""

    difference: np.ndarray   # difference of the two cycles' mean log residuals
    lab_weight: np.ndarray   # 1/n1 + 1/n2: the lab error's share of the difference's variance
    fall_sq: np.ndarray      # f1^2 + f2^2: the IOV's share (mean log fall below baseline per cycle)
    lab_var: float           # the lab error variance on the log scale

    @property
    def size(self) -> int:
        return int(self.difference.size)


def cycle_pairs(fits: list) -> CyclePairs:
    """Return the pairs of consecutive earlier cycles, with counts deep in their falls, of these fits."""
    differences, lab_weights, fall_sqs, near = [], [], [], []
    for fit in fits:
        residual, fall, hours = fit_residuals(fit)
        near += list(residual[np.abs(fall) < NEAR_BASELINE])
        length_h = fit.history.regimen.cycle_length_days * 24.0
        cycle = np.floor((hours + DOSE_MATCH_H) / length_h)
        deep = (hours < -DOSE_MATCH_H) & (fall < PAIR_FALL)
        per_cycle = [(residual[chosen].mean(), chosen.sum(), fall[chosen].mean())
                     for chosen in (deep & (cycle == c) for c in np.unique(cycle[deep]))]
        for (r1, n1, f1), (r2, n2, f2) in zip(per_cycle, per_cycle[1:]):
            differences.append(r1 - r2)
            lab_weights.append(1.0 / n1 + 1.0 / n2)
            fall_sqs.append(f1**2 + f2**2)
    # Counts near baseline give the lab error (robustly); never less than the textbook's, as the
    # fit's baseline absorbs part of their scatter.
    lab_var = max(float(np.median(np.square(near)) / MEDIAN_CHI2_1) if near else 0.0, RESIDUAL_LOG_SD**2)
    return CyclePairs(np.array(differences), np.array(lab_weights), np.array(fall_sqs), lab_var)


def iov_profile(pairs: CyclePairs) -> np.ndarray:
    """Return the log-likelihood of the pairs' differences at each IOV of IOV_GRID."""
    if not pairs.size:
        return np.zeros(IOV_GRID.size)
    variance = pairs.lab_var * pairs.lab_weight[None, :] + IOV_GRID[:, None] ** 2 * pairs.fall_sq[None, :]
    scale = np.sqrt(variance)
    return np.sum(student_t.logpdf(pairs.difference[None, :] / scale, PAIR_DF) - np.log(scale), axis=1)


def estimate(profile: np.ndarray) -> tuple[float, float]:
    """Return the most likely IOV and the upper end of its 80 % likelihood interval."""
    best = int(np.argmax(profile))
    upper = int(np.max(np.nonzero(profile >= profile[best] - UPPER_DROP)[0]))
    return float(IOV_GRID[best]), float(IOV_GRID[upper])


def fit_residuals(fit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return each count's log residual against the posterior median, its fall below baseline, and its hour."""
    hours = np.asarray(fit.history.count_hours, float)
    keep = hours <= fit.grid_h[-1]
    hours = hours[keep]
    observed = np.log(np.maximum(np.asarray(fit.history.anc_1e9_per_l, float)[keep], 0.01))
    index, weight = _interpolation(fit.grid_h, hours)
    simulated = fit.circ[index] * (1 - weight[:, None]) + fit.circ[index + 1] * weight[:, None]
    predicted = np.log(np.maximum(np.median(simulated, axis=1), 1e-6))
    fall = np.minimum(predicted - np.median(fit.log_params[:, 0]), 0.0)
    return observed - predicted, fall, hours

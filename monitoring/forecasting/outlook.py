"""A regimen's population outlook: cycle 1 simulated over many virtual patients from its prior.

``regimen_outlook`` draws virtual patients from the regimen's forecast prior (the learned one when
the clinic has it, else the literature or generic one), gives each the regimen's first cycle with or
without G-CSF and at a chosen dose, and returns what G-CSF trials report: the incidence of grade 4
neutropenia (nadir below 0.5 x10^9/L), the mean duration of severe neutropenia (DSN, days below
0.5), the median nadir and its day, and the share ready (ANC >= threshold) on the next day 1.

The prior is the one the engine forecasts with for a patient without counts (inter-individual
spread plus the uncertainty of the typical values), so the incidence here is the engine's P(grade 4)
for such a patient. The G-CSF schedules and the cycle measures are shared with the patient
scenarios (``scenarios.py``). Pure: no Django, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gcsf import HOURS_PER_DAY, gcsf_plan
from .model import build_schedule, simulate
from .priors import PopulationPrior, RegimenPrior, resolve_prior

GRADE4_BELOW = 0.5   # CTCAE v5.0 grade 4 neutrophil count decreased, x10^9/L
OUTLOOK_PATIENTS = 2000
OUTLOOK_SEED = 20260523
# Fine enough for the DSN (days below 0.5): the 6 h model grid is read at this step on the log scale.
DSN_STEP_H = 1.0


@dataclass(frozen=True)
class CycleMeasures:
    """Per draw: nadir (x10^9/L), its day of cycle, days below 0.5, ANC on this and on the next day 1."""

    nadir: np.ndarray
    nadir_day: np.ndarray
    dsn_days: np.ndarray
    next_day1_anc: np.ndarray
    day1_anc: np.ndarray


def cycle_measures(circ: np.ndarray, grid_h: np.ndarray, start_h: float, length_h: float) -> CycleMeasures:
    """Read one cycle (``start_h`` to ``start_h + length_h``) from simulated counts (grid x draws)."""
    fine_h = np.arange(start_h, start_h + length_h + 1e-9, DSN_STEP_H)
    position = np.clip((fine_h - grid_h[0]) / (grid_h[1] - grid_h[0]), 0.0, grid_h.size - 1.000001)
    index = np.floor(position).astype(int)
    weight = (position - index)[:, None]
    log_circ = np.log(np.maximum(circ, 1e-6))
    fine = np.exp(log_circ[index] * (1 - weight) + log_circ[index + 1] * weight)
    lowest = np.argmin(fine, axis=0)
    below = fine < GRADE4_BELOW
    # Trapezoid rule on the indicator: a crossing between two readings counts half a step.
    dsn = 0.5 * (below[:-1].astype(float) + below[1:]).sum(axis=0) * DSN_STEP_H / HOURS_PER_DAY
    return CycleMeasures(nadir=fine[lowest, np.arange(fine.shape[1])],
                         nadir_day=1.0 + (fine_h[lowest] - start_h) / HOURS_PER_DAY,
                         dsn_days=dsn, next_day1_anc=fine[-1], day1_anc=fine[0])


def summarise_measures(measures: CycleMeasures, threshold: float) -> dict[str, float]:
    """Return the population figures of one cycle (the keys of ``regimen_outlook``)."""
    return {"grade4_incidence": round(float(np.mean(measures.nadir < GRADE4_BELOW)), 3),
            "dsn_days_mean": round(float(np.mean(measures.dsn_days)), 2),
            "nadir_median": round(float(np.median(measures.nadir)), 3),
            "nadir_day_median": round(float(np.median(measures.nadir_day)), 1),
            "p_ready_next_day1": round(float(np.mean(measures.next_day1_anc >= threshold)), 3)}


def prior_for(code: str, cycle_length_days: float, fn_risk: str = "unknown",
              chemo_days: tuple[int, ...] | None = None) -> RegimenPrior:
    """Return the literature (or generic) prior of a regimen, as the engine resolves it."""
    prior, _ = resolve_prior(code, cycle_length_days, fn_risk, chemo_days)
    return prior


def regimen_outlook(prior: RegimenPrior, population: PopulationPrior | None = None, gcsf: str = "none",
                    dose: float = 1.0, threshold: float = 1.5, patients: int = OUTLOOK_PATIENTS,
                    seed: int = OUTLOOK_SEED) -> dict:
    """Return the cycle-1 outlook of a regimen over ``patients`` virtual patients.

    ``prior`` gives the schedule (cycle length, chemo days, infusion, drug effect half-life) and,
    without ``population``, the parameters; ``dose`` is the fraction of the protocol dose given.
    """
    if dose <= 0 or dose > 3:
        raise ValueError(f"dose must be a fraction of the protocol dose in (0, 3], got {dose!r}")
    mean, sd = (population.log_mean, population.log_sd) if population is not None else (
        prior.log_mean(), prior.log_sd())
    rng = np.random.default_rng(seed)
    theta = np.exp(mean + sd * np.clip(rng.standard_normal((patients, mean.size)), -4.0, 4.0))
    length_h = prior.cycle_length_days * HOURS_PER_DAY
    dose_hours = [(day - 1) * HOURS_PER_DAY for day in prior.chemo_days]
    gcsf_hours, products = gcsf_plan(gcsf, infusion_h=prior.infusion_h)
    schedule = build_schedule(dose_hours, [dose] * len(dose_hours), prior.infusion_h,
                              np.log(2) / prior.kde_half_life_h, gcsf_hours, products, length_h + HOURS_PER_DAY)
    gpot = theta[:, 4] if schedule.has_gcsf else np.zeros(patients)
    circ = simulate(theta[:, 0], theta[:, 1], theta[:, 2], theta[:, 3], gpot, schedule)
    measures = cycle_measures(circ, schedule.grid_h, 0.0, length_h)
    return {"regimen": prior.code, "gcsf": gcsf, "dose": dose, "n": patients,
            **summarise_measures(measures, threshold),
            "prior": "learned" if population is not None else ("generic" if prior.generic else "literature")}

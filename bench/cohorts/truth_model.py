"""The true model of the misspecified cohorts, shared by their generator and their oracle.

One integrator (``run_cycle``) advances any number of virtual patients (columns) through one cycle,
so the oracle (``oracle.py``) weighs its particles with exactly the model that made the data. It
imports nothing from ``monitoring.forecasting``: the engine meets it as it would meet real patients.

- Friberg myelosuppression model (proliferating pool, three transits, circulation, feedback
  (reference / Circ)^gamma), classic RK4 on a 1 h step.
- K-PD drug effect in the linear Friberg form: growth ktr * Prol * (1 - slope * A) * feedback.
- G-CSF: pegfilgrastim with linear plus neutrophil-mediated clearance, filgrastim with a 3.5 h
  half-life; a Hill effect Eg raising proliferation by (1 + Eg) and speeding maturation by
  (1 + share * Eg).
- Inter-individual variability (log-normal) on Circ0, MTT, slope, gamma and G-CSF potency.
- Departures from the textbook (``Departures``), each switchable: cycle-to-cycle variability of the
  drug sensitivity, of the transit time, of the baseline (the feedback's reference) and of the G-CSF
  response (log-normal per cycle, from the cycle's day-1 dose); cumulative marrow damage (the
  reference falls by ``damage`` per full dose, log-normal between patients); lab error normal or
  Student-t on the log scale; a lab bias on the log scale that drifts from cycle to cycle (a random
  walk; the truth is the latent count, without it).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The integrator's rates and the G-CSF schedule are bench/synthetic_cohort.py's (the first simulator).
# Appended, not put first: bench/oracle.py must not stand in for bench/cohorts/oracle.py.
sys.path.append(str(Path(__file__).resolve().parent.parent))
from synthetic_cohort import gcsf_hours, rate_constants  # noqa: E402

STEP_H = 1.0
COUNT_FLOOR = 0.01   # the lab reports nothing lower (10^9/L)
LOG_FLOOR = math.log(1e-9)
# G-CSF shortens the maturation time at most four-fold (and the ODE stays stable on the 1 h step).
MAX_MATURATION_SPEEDUP = 4.0
# Every random effect is a standard normal truncated at 4.5 SD (mass beyond: 7e-6 per effect), so
# that no draw makes the system stiff; the generator and the oracle share this prior.
Z_LIMIT = 4.5


@dataclass(frozen=True)
class Departures:
    """How the patients of a cohort depart from the textbook model (all off by default)."""

    iov_slope: float = 0.0       # SD of log drug sensitivity, per cycle
    iov_mtt: float = 0.0         # SD of log transit time, per cycle
    iov_base: float = 0.0        # SD of log baseline (feedback reference), per cycle
    iov_gcsf: float = 0.0        # SD of log G-CSF potency, per cycle
    damage_median: float = 0.0   # baseline lost per full dose, typical patient
    damage_iiv: float = 0.5      # log-normal SD of the damage between patients
    noise_sd: float = 0.2        # lab error on the log scale (the scale of the t when noise_df > 0)
    noise_df: float = 0.0        # 0: normal lab error; else Student-t with these degrees of freedom
    bias_sd: float = 0.0         # SD of the lab's log bias in the first cycle
    bias_drift: float = 0.0      # SD of its change from one cycle to the next


@dataclass(frozen=True)
class System:
    """Typical system and G-CSF values of one population, and their inter-individual spread."""

    circ0: float = 5.0
    mtt_h: float = 100.0
    gamma: float = 0.17
    kde_half_life_h: float = 10.0
    gcsf_emax: float = 1.2
    gcsf_ec50: float = 0.15
    gcsf_share: float = 0.5
    peg_linear_half_life_h: float = 150.0
    peg_neutrophil_clearance: float = 0.01
    iiv: dict = field(default_factory=lambda: {"circ0": 0.3, "mtt_h": 0.18, "slope": 0.4, "gamma": 0.2,
                                               "gcsf": 0.5})


@dataclass(frozen=True)
class Regimen:
    code: str
    name: str
    cycle_days: int
    chemo_days: tuple[int, ...]
    fn_risk: str
    typical_nadir: float         # typical patient, first cycle, no G-CSF
    gcsf: str = "none"           # none | peg-d2 | fil-dA-B (daily filgrastim days A to B)
    system: System = System()


@dataclass
class Patients:
    """Columns of virtual patients: their fixed parameters and their state between cycles."""

    circ0: np.ndarray
    mtt_h: np.ndarray
    slope: np.ndarray
    gamma: np.ndarray
    gcsf: np.ndarray
    damage: np.ndarray
    state: np.ndarray            # (8, n): see initial_state
    reference: np.ndarray        # the baseline after damage so far (before the cycle's own factor)
    bias: np.ndarray             # the lab's log bias in the current cycle

    def take(self, index: np.ndarray) -> Patients:
        """Return the columns ``index`` (resampling, or a subset)."""
        return Patients(*(getattr(self, name)[..., index] for name in self.__dataclass_fields__))


def typical_values(regimen: Regimen) -> dict[str, float]:
    s = regimen.system
    return {"circ0": s.circ0, "mtt_h": s.mtt_h, "slope": typical_slope(regimen), "gamma": s.gamma,
            "gcsf": s.gcsf_emax}


def initial_state(circ0: np.ndarray) -> np.ndarray:
    """Return the state at rest: drug, log prolif, 3 transits, circ, log pegfilgrastim, filgrastim.

    The proliferating pool and pegfilgrastim are integrated on the log scale: a deep kill or a fast
    clearance then stays stable on the 1 h step.
    """
    state = np.zeros((8, circ0.size))
    state[1] = np.log(circ0)
    state[2:6] = circ0
    state[6] = -np.inf
    return state


def truncated_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Return standard normals truncated at +-Z_LIMIT (the priors of every random effect)."""
    z = rng.standard_normal(shape)
    outside = np.abs(z) > Z_LIMIT
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > Z_LIMIT
    return z


STATIC = ("circ0", "mtt_h", "slope", "gamma", "gcsf", "damage", "bias")
PER_CYCLE = ("slope", "mtt", "base", "gcsf", "bias")


def static_sds(regimen: Regimen, departures: Departures) -> np.ndarray:
    """Return the SD of each standard normal behind ``STATIC`` (0: the effect is switched off)."""
    iiv = regimen.system.iiv
    return np.array([iiv["circ0"], iiv["mtt_h"], iiv["slope"], iiv["gamma"], iiv["gcsf"],
                     departures.damage_iiv if departures.damage_median else 0.0, departures.bias_sd])


def cycle_sds(departures: Departures, cycle: int) -> np.ndarray:
    """Return the SD of each standard normal behind ``PER_CYCLE`` in a cycle (0: switched off)."""
    return np.array([departures.iov_slope, departures.iov_mtt, departures.iov_base, departures.iov_gcsf,
                     departures.bias_drift if cycle > 0 else 0.0])


def draw_patients(regimen: Regimen, departures: Departures, z: np.ndarray) -> Patients:
    """Return patients, before their first dose, from standard normals ``z`` (7, n) (see ``STATIC``)."""
    sds = static_sds(regimen, departures)
    typical = typical_values(regimen)
    circ0, mtt, slope, gamma, gcsf = (typical[k] * np.exp(sd * row) for k, sd, row in
                                      zip(("circ0", "mtt_h", "slope", "gamma", "gcsf"), sds, z))
    damage = departures.damage_median * np.exp(sds[5] * z[5])
    return Patients(circ0, mtt, slope, gamma, gcsf, damage, initial_state(circ0), circ0.copy(), sds[6] * z[6])


def draw_occasion(departures: Departures, patients: Patients, cycle: int, z: np.ndarray) -> dict[str, np.ndarray]:
    """Return the cycle's own factors from standard normals ``z`` (5, n) and move the lab bias on."""
    sds = cycle_sds(departures, cycle)
    patients.bias = patients.bias + sds[4] * z[4]
    return {name: np.exp(sd * row) for name, sd, row in zip(PER_CYCLE[:4], sds[:4], z[:4])}


def run_cycle(patients: Patients, occasion: dict[str, np.ndarray], regimen: Regimen,
              fractions: np.ndarray, record: set[int] | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                              dict[int, np.ndarray]]:
    """Advance every patient through one cycle from its day-1 dose, in place.

    Return the nadir of the cycle (the lowest Circ on the 1 h grid from the dose to the next day 1,
    both included), the hour of that nadir, and Circ at every step in ``record`` (step 0 is the dose).
    ``fractions`` is each patient's dose fraction for the cycle's chemotherapy days.
    """
    s = regimen.system
    steps = int(regimen.cycle_days * 24 / STEP_H)
    ktr, kde, k_peg, k_fil = rate_constants(s, patients.mtt_h * occasion["mtt"])
    emax = patients.gcsf * occasion["gcsf"]
    slope, gamma = patients.slope, patients.gamma
    dose_steps = {int((day - 1) * 24 / STEP_H) for day in regimen.chemo_days}
    gcsf_steps: dict[int, list[int]] = {}
    for hour, product in gcsf_hours(regimen.gcsf):
        gcsf_steps.setdefault(int(round(hour / STEP_H)), []).append(6 if product == "pegfilgrastim" else 7)
    drug_per_dose = fractions * occasion["slope"]

    def rhs(x: np.ndarray, log_reference: np.ndarray) -> np.ndarray:
        a, log_p, t1, t2, t3, c, log_gp, gf = x
        p = np.exp(log_p)
        g = np.maximum(np.exp(log_gp) + gf, 0.0)
        eg = emax * g / (s.gcsf_ec50 + g)
        kt = ktr * np.minimum(1.0 + s.gcsf_share * eg, MAX_MATURATION_SPEEDUP)
        feedback = np.exp(gamma * (log_reference - np.log(np.maximum(c, 1e-3))))
        growth_rate = ktr * (1.0 - slope * a) * feedback * (1.0 + eg)
        return np.stack([-kde * a, growth_rate - kt, kt * (p - t1), kt * (t1 - t2), kt * (t2 - t3),
                         kt * t3 - ktr * c, -(k_peg + s.peg_neutrophil_clearance * c), -k_fil * gf])

    x = patients.state
    nadir = x[5].copy()
    nadir_step = np.zeros(nadir.size, dtype=int)
    recorded = {0: x[5].copy()} if record and 0 in record else {}
    h = STEP_H
    for i in range(steps):
        if i in dose_steps:
            x[0] += drug_per_dose
            patients.reference = patients.reference * (1.0 - patients.damage * fractions)
        for compartment in gcsf_steps.get(i, ()):
            if compartment == 6:
                x[6] = np.logaddexp(x[6], 0.0)
            else:
                x[7] += 1.0
        log_reference = np.log(patients.reference * occasion["base"])
        k1 = rhs(x, log_reference)
        k2 = rhs(x + 0.5 * h * k1, log_reference)
        k3 = rhs(x + 0.5 * h * k2, log_reference)
        k4 = rhs(x + h * k3, log_reference)
        x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        x[1] = np.maximum(x[1], LOG_FLOOR)
        x[2:6] = np.maximum(x[2:6], 1e-6)
        lower = x[5] < nadir
        nadir = np.where(lower, x[5], nadir)
        nadir_step = np.where(lower, i + 1, nadir_step)
        if record and i + 1 in record:
            recorded[i + 1] = x[5].copy()
    patients.state = x
    return nadir, nadir_step * STEP_H, recorded


def lab_log_density(residual: np.ndarray, departures: Departures) -> np.ndarray:
    """Return the log density of a log-scale lab error (measured / latent, bias removed)."""
    sd, df = departures.noise_sd, departures.noise_df
    z = residual / sd
    if not df:
        return -math.log(sd) - 0.5 * math.log(2 * math.pi) - 0.5 * z * z
    const = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi) - math.log(sd)
    return const - 0.5 * (df + 1) * np.log1p(z * z / df)


def lab_log_cdf(residual: np.ndarray, departures: Departures) -> np.ndarray:
    """Return log P(lab error <= residual) (a count at the lab's floor is censored)."""
    from scipy import stats

    z = residual / departures.noise_sd
    if not departures.noise_df:
        return stats.norm.logcdf(z)
    return stats.t.logcdf(z, departures.noise_df)


def lab_error(departures: Departures, size: int, rng: np.random.Generator) -> np.ndarray:
    if departures.noise_df:
        return departures.noise_sd * rng.standard_t(departures.noise_df, size)
    return departures.noise_sd * rng.standard_normal(size)


def measured(latent: float, log_error: float) -> float:
    """Return the value a lab reports: 3 significant figures, never below its floor."""
    value = latent * math.exp(log_error)
    if value <= COUNT_FLOOR:
        return COUNT_FLOOR
    return float(f"{value:.3g}")


_SLOPES: dict[str, float] = {}


def typical_slope(regimen: Regimen) -> float:
    """Return the slope giving the typical patient the regimen's typical first-cycle nadir, no G-CSF."""
    if regimen.code not in _SLOPES:
        s = regimen.system
        slopes = np.geomspace(0.05, 50.0, 160)
        ones = np.ones_like(slopes)
        patients = Patients(s.circ0 * ones, s.mtt_h * ones, slopes, s.gamma * ones, 0 * ones, 0 * ones,
                            initial_state(s.circ0 * ones), s.circ0 * ones, 0 * ones)
        without = Regimen(regimen.code, regimen.name, regimen.cycle_days, regimen.chemo_days,
                          regimen.fn_risk, regimen.typical_nadir, "none", s)
        nadirs, _, _ = run_cycle(patients, {k: ones for k in ("slope", "mtt", "base", "gcsf")}, without, ones)
        order = np.argsort(nadirs)
        _SLOPES[regimen.code] = float(np.exp(np.interp(np.log(regimen.typical_nadir), np.log(nadirs[order]),
                                                       np.log(slopes[order]))))
    return _SLOPES[regimen.code]

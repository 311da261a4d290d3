"""Simulate nadir-bench-style cohorts the forecasting engine has never been told about.

usage: python bench/synthetic_cohort.py --out DIR [--seed N] [--kind unknown|shifted|gcsf|misspecified]
       [--per-regimen 50] [--no-departures]

Writes DIR/histories.jsonl and DIR/truth.jsonl in the nadir-bench format. The simulator is its own
code (it imports nothing from monitoring.forecasting), so scoring the engine on these cohorts is a
fair test of how it generalises:

- Friberg myelosuppression model (proliferating pool, three transits, circulation, feedback
  (Circ0/Circ)^gamma), integrated with classic RK4 on a 0.5 h step.
- K-PD drug effect in the linear Friberg form: E = slope * A, A a virtual dose amount emptying with
  KDE; the growth term is ktr * Prol * (1 - E) * feedback, so E > 1 kills.
- G-CSF: pegfilgrastim with linear plus neutrophil-mediated clearance, filgrastim with a 3.5 h
  half-life; a Hill-type effect raising proliferation by (1 + Eg) and dividing the maturation time by
  (1 + share * Eg), ``share`` differing between cohorts and from the engine's constant.
- Inter-individual variability (log-normal) on Circ0, MTT, slope, gamma and G-CSF potency;
  proportional log-normal lab noise; clinic-like sampling (a pre-dose day-1 count each cycle, one or
  two counts per earlier cycle at random days, sometimes one early count in the target cycle);
  a 20 % dose reduction sometimes follows a measured grade-4 count.
- ``misspecified`` cohorts add what real patients do and the textbook model does not: the drug effect
  changes from cycle to cycle (log-normal, 20-30 %), the baseline falls by 2-5 % per dose (a lower
  feedback reference), and the lab noise is 30 % with 5 % outliers.

Regimen codes, typical values and G-CSF schedules differ from the tuning cohort. Potency is set
through the typical first-cycle nadir without G-CSF, matched to the regimen's FN-risk category.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

STEP_H = 0.5
FILGRASTIM_HALF_LIFE_H = 3.5
OUTLIER_LOG_SD = 1.0


@dataclass(frozen=True)
class System:
    """Typical system and G-CSF values of one simulated population."""

    circ0: float = 5.0
    mtt_h: float = 100.0
    gamma: float = 0.17
    kde_half_life_h: float = 10.0
    gcsf_emax: float = 1.0       # maximal relative rise in proliferation
    gcsf_ec50: float = 0.15      # in doses
    gcsf_share: float = 0.5      # share of Eg that speeds maturation
    peg_linear_half_life_h: float = 150.0
    peg_neutrophil_clearance: float = 0.01   # per hour per 10^9/L
    iiv: dict = field(default_factory=lambda: {"circ0": 0.3, "mtt_h": 0.18, "slope": 0.4, "gamma": 0.2,
                                               "gcsf": 0.5})
    noise_cv: float = 0.2
    # Departures from the textbook model (the "misspecified" cohorts): cycle-to-cycle variability of
    # the drug effect (log-normal SD per cycle), loss of the marrow's baseline per full dose, and the
    # share of lab outliers (a clotted or mislabelled sample: the value is off by a log-normal factor
    # with SD OUTLIER_LOG_SD).
    iov_slope: float = 0.0
    damage_per_dose: float = 0.0
    outlier_rate: float = 0.0


@dataclass(frozen=True)
class Regimen:
    code: str
    name: str
    cycle_days: int
    chemo_days: tuple[int, ...]
    fn_risk: str
    typical_nadir: float           # typical patient, first cycle, no G-CSF
    gcsf: str = "none"             # none | peg-d2 | fil-d3-10 | fil-d9-16
    system: System = System()


KINDS: dict[str, list[Regimen]] = {
    "unknown": [
        Regimen("ZX-ALPHA-Q3W", "Zeta-alpha q3w", 21, (1,), "intermediate", 0.6, "none",
                System(mtt_h=95.0)),
        Regimen("ZX-BETA-Q2W", "Zeta-beta q2w", 14, (1,), "low", 1.6, "none",
                System(mtt_h=115.0, circ0=4.5)),
        Regimen("ZX-GAMMA-Q3W", "Zeta-gamma d1,d8 q3w", 21, (1, 8), "intermediate", 0.8, "none",
                System(mtt_h=120.0, gamma=0.2)),
        Regimen("ZX-DELTA-Q3W", "Zeta-delta q3w with pegfilgrastim", 21, (1,), "high", 0.25, "peg-d2",
                System(mtt_h=90.0, gcsf_emax=0.8)),
    ],
    "shifted": [
        Regimen("YQ-ONE-Q4W", "Yq-one d1,d8 q4w", 28, (1, 8), "intermediate", 0.7, "none",
                System(circ0=3.8, mtt_h=140.0, gamma=0.25)),
        Regimen("YQ-TWO-Q3W", "Yq-two q3w with filgrastim", 21, (1,), "high", 0.3, "fil-d3-10",
                System(circ0=3.8, mtt_h=140.0, gamma=0.25, gcsf_emax=1.5, gcsf_share=0.3)),
        Regimen("YQ-THREE-Q2W", "Yq-three q2w with pegfilgrastim", 14, (1,), "intermediate", 0.9, "peg-d2",
                System(circ0=6.5, mtt_h=75.0, gamma=0.12, gcsf_emax=1.2, gcsf_share=0.8)),
        Regimen("YQ-FOUR-Q3W", "Yq-four q3w", 21, (1,), "low", 1.5, "none",
                System(circ0=6.5, mtt_h=75.0, gamma=0.12, kde_half_life_h=24.0)),
    ],
    "gcsf": [
        Regimen("WV-A-Q3W", "Wv-a q3w with filgrastim", 21, (1,), "high", 0.25, "fil-d3-10",
                System(gcsf_emax=2.0, gcsf_share=0.6)),
        Regimen("WV-B-Q2W", "Wv-b q2w with filgrastim", 14, (1,), "high", 0.4, "fil-d3-10",
                System(mtt_h=110.0, gcsf_emax=1.0, gcsf_share=1.0)),
        Regimen("WV-C-Q3W", "Wv-c q3w with pegfilgrastim", 21, (1,), "intermediate", 0.5, "peg-d2",
                System(gcsf_emax=2.0, gcsf_share=0.4)),
        Regimen("WV-D-Q3W", "Wv-d d1,d8 q3w with filgrastim", 21, (1, 8), "intermediate", 0.6, "fil-d9-16",
                System(mtt_h=110.0, gcsf_emax=1.0, gcsf_share=0.5)),
    ],
    # Patients who depart from the textbook: per-cycle variability of 20-30 %, 2-5 % loss of the
    # baseline per dose, 30 % lab noise with 5 % outliers; both G-CSF schedules and d1/d8 regimens.
    "misspecified": [
        Regimen("MS-PEG-Q3W", "Ms-peg q3w with pegfilgrastim", 21, (1,), "high", 0.3, "peg-d2",
                System(mtt_h=95.0, gcsf_emax=1.2, iov_slope=0.25, damage_per_dose=0.04, noise_cv=0.3,
                       outlier_rate=0.05)),
        Regimen("MS-FIL-Q2W", "Ms-fil q2w with filgrastim", 14, (1,), "high", 0.4, "fil-d3-10",
                System(mtt_h=110.0, gcsf_emax=1.0, gcsf_share=0.7, iov_slope=0.2, damage_per_dose=0.03,
                       noise_cv=0.3, outlier_rate=0.05)),
        Regimen("MS-D1D8-Q3W", "Ms d1,d8 q3w", 21, (1, 8), "intermediate", 0.7, "none",
                System(mtt_h=120.0, gamma=0.2, iov_slope=0.3, damage_per_dose=0.05, noise_cv=0.3,
                       outlier_rate=0.05)),
        Regimen("MS-D1D8-FIL-Q3W", "Ms d1,d8 q3w with filgrastim", 21, (1, 8), "intermediate", 0.6, "fil-d9-16",
                System(mtt_h=105.0, iov_slope=0.25, damage_per_dose=0.02, noise_cv=0.3, outlier_rate=0.05)),
    ],
}


def gcsf_hours(kind: str, cycle_start_h: float = 0.0) -> list[tuple[float, str]]:
    """Return the G-CSF injections of a cycle, in hours, for a cycle whose day-1 dose is at ``cycle_start_h``
    (dose at 09:00, G-CSF at 11:00). bench/cohorts/truth_model.py schedules its G-CSF with this too."""
    if kind == "peg-d2":
        return [(cycle_start_h + 26.0, "pegfilgrastim")]
    if kind.startswith("fil-d"):
        first, last = (int(x) for x in kind[5:].split("-"))
        return [(cycle_start_h + 24.0 * (day - 1) + 2.0, "filgrastim") for day in range(first, last + 1)]
    return []


def rate_constants(system, mtt_h):
    """Return the integrator's rates per hour: (ktr, kde, k_peg, k_fil).

    ktr = 4 / MTT moves cells through the pool and the three transits; kde empties the drug effect,
    k_peg is pegfilgrastim's linear clearance (its neutrophil-mediated part is added in the ODE),
    k_fil filgrastim's. ``system`` is either simulator's System (both name these half-lives alike);
    ``mtt_h`` a number or one per patient. bench/cohorts/truth_model.py sets up its integrator with this.
    """
    return (4.0 / mtt_h, np.log(2) / system.kde_half_life_h, np.log(2) / system.peg_linear_half_life_h,
            np.log(2) / FILGRASTIM_HALF_LIFE_H)


def _simulate(params: dict[str, np.ndarray], system: System, end_h: float,
              drug: np.ndarray, peg: np.ndarray, fil: np.ndarray, damage: np.ndarray | None = None,
              given: np.ndarray | None = None) -> np.ndarray:
    """Return Circ at every 0.5 h step, shape (steps + 1, patients); inputs are bolus arrays per step.

    ``damage`` (per patient) is the fraction of the marrow's baseline lost with each full dose given
    (``given``: the dose fractions per step, before any cycle-to-cycle change of their effect): the
    feedback then pulls the count back to a lower level after every cycle.
    """
    circ0, mtt, slope, gamma, emax = (params[k] for k in ("circ0", "mtt_h", "slope", "gamma", "gcsf"))
    ktr, kde, k_peg, k_fil = rate_constants(system, mtt)
    n = drug.shape[0]
    state = np.stack([np.zeros_like(circ0), *(circ0.copy() for _ in range(5)),
                      np.zeros_like(circ0), np.zeros_like(circ0)])  # A, P, T1, T2, T3, C, Gpeg, Gfil

    def rhs(s: np.ndarray) -> np.ndarray:
        a, p, t1, t2, t3, c, gp, gf = s
        g = np.maximum(gp + gf, 0.0)
        eg = emax * g / (system.gcsf_ec50 + g)
        kt = ktr * (1.0 + system.gcsf_share * eg)
        feedback = (reference / np.maximum(c, 1e-3)) ** gamma
        growth = ktr * p * (1.0 - slope * a) * feedback * (1.0 + eg)
        return np.stack([-kde * a, growth - kt * p, kt * (p - t1), kt * (t1 - t2), kt * (t2 - t3),
                         kt * t3 - ktr * c, -(k_peg + system.peg_neutrophil_clearance * c) * gp, -k_fil * gf])

    out = np.empty((n + 1, circ0.size))
    out[0] = circ0
    h = STEP_H
    reference = circ0.copy()
    for i in range(n):
        if damage is not None and np.any(given[i]):
            reference = reference * (1.0 - damage * given[i])
        state[0] += drug[i]
        state[6] += peg[i]
        state[7] += fil[i]
        k1 = rhs(state)
        k2 = rhs(state + 0.5 * h * k1)
        k3 = rhs(state + 0.5 * h * k2)
        k4 = rhs(state + h * k3)
        state = state + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        state[1:6] = np.maximum(state[1:6], 1e-6)
        out[i + 1] = state[5]
    return out


_SLOPES: dict[str, float] = {}


def _typical_slope(regimen: Regimen) -> float:
    """Return the slope giving the typical patient the regimen's typical first-cycle nadir, no G-CSF."""
    if regimen.code not in _SLOPES:
        _SLOPES[regimen.code] = _calibrate_slope(regimen)
    return _SLOPES[regimen.code]


def _calibrate_slope(regimen: Regimen) -> float:
    s = regimen.system
    slopes = np.geomspace(0.05, 50.0, 120)
    ones = np.ones_like(slopes)
    end_h = regimen.cycle_days * 24.0
    n = int(end_h / STEP_H)
    drug = np.zeros((n, 1))
    for day in regimen.chemo_days:
        drug[int((day - 1) * 24 / STEP_H)] = 1.0
    zeros = np.zeros((n, 1))
    params = {"circ0": 5.0 * ones, "mtt_h": s.mtt_h * ones, "slope": slopes, "gamma": s.gamma * ones,
              "gcsf": 0 * ones}
    nadirs = _simulate(params, s, end_h, drug * ones, zeros * ones, zeros * ones).min(axis=0)
    order = np.argsort(nadirs)
    return float(np.exp(np.interp(np.log(regimen.typical_nadir), np.log(nadirs[order]),
                                  np.log(slopes[order]))))


def _regimen_cohort(regimen: Regimen, count: int, rng: np.random.Generator, prefix: str,
                    first_index: int) -> list[tuple[dict, dict]]:
    s = regimen.system
    typical = {"circ0": s.circ0, "mtt_h": s.mtt_h, "slope": _typical_slope(regimen), "gamma": s.gamma,
               "gcsf": s.gcsf_emax}
    params = {k: v * np.exp(s.iiv[k] * rng.standard_normal(count)) for k, v in typical.items()}
    targets = rng.choice([1, 2, 3, 4], size=count, p=[0.2, 0.35, 0.3, 0.15])
    length_h = regimen.cycle_days * 24.0
    end_h = targets.max() * length_h + 6.0
    n = int(end_h / STEP_H)
    # Dose fractions decided cycle by cycle from measured counts: simulate in passes, one per cycle.
    fractions = np.ones((count, int(targets.max())))
    # Cycle-to-cycle variability scales each cycle's drug effect (the slope is linear in the amount).
    # (Drawn only when there is any, so the other kinds' cohorts stay as they were.)
    occasion = np.ones((count, int(targets.max())))
    if s.iov_slope:
        occasion = np.exp(s.iov_slope * rng.standard_normal(occasion.shape))
    damage = np.full(count, s.damage_per_dose)
    given = np.zeros((n, count))
    drug = np.zeros((n, count))
    peg = np.zeros((n, count))
    fil = np.zeros((n, count))
    counts: list[list[tuple[float, float]]] = [[] for _ in range(count)]
    gcsf_events: list[list[tuple[float, str]]] = [[] for _ in range(count)]
    circ = None
    for cycle in range(int(targets.max())):
        start = cycle * length_h
        for j in range(count):
            if cycle >= targets[j]:
                continue
            if cycle > 0 and any(v < 0.5 for t, v in counts[j] if start - length_h <= t < start) \
                    and rng.random() < 0.4:
                fractions[j, cycle:] = fractions[j, cycle - 1] * 0.8
            for day in regimen.chemo_days:
                drug[int((start + (day - 1) * 24) / STEP_H), j] += fractions[j, cycle] * occasion[j, cycle]
                given[int((start + (day - 1) * 24) / STEP_H), j] += fractions[j, cycle]
            for hour, product in gcsf_hours(regimen.gcsf, start):
                (peg if product == "pegfilgrastim" else fil)[int(hour / STEP_H), j] += 1.0
                gcsf_events[j].append((hour, product))
        circ = _simulate(params, s, end_h, drug, peg, fil, damage if s.damage_per_dose else None, given)
        noise = np.exp(s.noise_cv * rng.standard_normal((3, count)))
        if s.outlier_rate:
            outlier = rng.random((3, count)) < s.outlier_rate
            noise = np.where(outlier, noise * np.exp(OUTLIER_LOG_SD * rng.standard_normal((3, count))), noise)
        for j in range(count):
            if cycle >= targets[j]:
                continue
            # Pre-dose count on day 1 (about 07:00, the dose is at 09:00).
            pre = start - rng.uniform(1.0, 3.0)
            times = [max(pre, 0.0) if cycle == 0 else pre]
            if cycle < targets[j] - 1:
                k = rng.choice([1, 2], p=[0.5, 0.5])
                days = rng.choice(np.arange(3, regimen.cycle_days), size=k, replace=False)
                times += [start + (d - 1) * 24.0 + rng.uniform(0.0, 6.0) for d in sorted(days)]
            elif rng.random() < 0.4:
                times.append(start + rng.integers(2, 5) * 24.0 + rng.uniform(0.0, 6.0))
            for index, t in enumerate(times):
                latent = float(np.interp(t, np.arange(n + 1) * STEP_H, circ[:, j]))
                counts[j].append((t, round(max(latent * noise[index, j], 0.01), 2)))
    base = datetime(2026, 1, 5, 9, 0)
    rows = []
    grid = np.arange(n + 1) * STEP_H
    for j in range(count):
        start_date = base + timedelta(days=int(rng.integers(0, 300)))
        target_start = (targets[j] - 1) * length_h
        window = (grid >= target_start) & (grid <= target_start + length_h)
        latent = circ[window, j]
        lowest = int(np.argmin(latent))
        nadir_h = grid[window][lowest] - target_start

        def iso(hours: float, start_date: datetime = start_date) -> str:
            return (start_date + timedelta(hours=float(hours))).isoformat(timespec="minutes")

        doses = [{"time": iso(c * length_h + (d - 1) * 24.0), "dose_fraction": round(float(fractions[j, c]), 3)}
                 for c in range(targets[j]) for d in regimen.chemo_days
                 if c * length_h + (d - 1) * 24.0 <= target_start]
        cid = f"{prefix}-{regimen.code}-{first_index + j:03d}"
        units = rng.choice(["10^9/L", "10^3/uL", "/uL"], p=[0.8, 0.1, 0.1])
        history = {
            "id": cid,
            "regimen": {"code": regimen.code, "name": regimen.name, "cycle_length_days": regimen.cycle_days,
                        "fn_risk": regimen.fn_risk},
            "doses": doses,
            # G-CSF is prescribed with the cycle: the target cycle's planned injections are on record.
            "gcsf": [{"time": iso(h), "product": p} for h, p in gcsf_events[j]],
            "counts": [{"time": iso(t), "anc": round(v * 1000) if units == "/uL" else v, "unit": str(units)}
                       for t, v in counts[j]],
            "forecast_cycle_start": iso(target_start),
        }
        nadir = float(latent[lowest])
        truth = {"id": cid, "regimen": regimen.code, "target_cycle": int(targets[j]),
                 "nadir_anc": round(nadir, 4), "nadir_day": round(1.0 + nadir_h / 24.0, 2),
                 "grade4": nadir < 0.5, "grade3plus": nadir < 1.0, "n_counts": len(counts[j])}
        rows.append((history, truth))
    return rows


def build(kind: str, seed: int, per_regimen: int, departures: bool = True) -> list[tuple[dict, dict]]:
    """Return (history, truth) pairs for every regimen of ``kind``.

    ``departures=False`` takes the departures from the textbook out of the regimens (no
    cycle-to-cycle variability, no damage, 20 % lab noise without outliers): the same regimens as a
    control, to tell the cost of the departures from that of the rest of the simulator's model.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for regimen in KINDS[kind]:
        if not departures:
            regimen = replace(regimen, system=replace(regimen.system, iov_slope=0.0, damage_per_dose=0.0,
                                                      outlier_rate=0.0, noise_cv=0.2))
        rows += _regimen_cohort(regimen, per_regimen, rng, f"{kind}{seed}", 0)
    return rows


def regimen_cohort(regimen: Regimen, count: int, seed: int) -> list[tuple[dict, dict]]:
    """Return (history, truth) pairs for ``count`` patients on one regimen (used by the tests)."""
    return _regimen_cohort(regimen, count, np.random.default_rng(seed), f"{regimen.code}-{seed}", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kind", choices=sorted(KINDS), default="unknown")
    parser.add_argument("--per-regimen", type=int, default=50)
    parser.add_argument("--no-departures", action="store_true",
                        help="the same regimens without cycle-to-cycle variability, damage and outliers")
    args = parser.parse_args()
    rows = build(args.kind, args.seed, args.per_regimen, departures=not args.no_departures)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "histories.jsonl").write_text("".join(json.dumps(h) + "\n" for h, _ in rows))
    (args.out / "truth.jsonl").write_text("".join(json.dumps(t) + "\n" for _, t in rows))
    g4 = sum(t["grade4"] for _, t in rows)
    print(f"{args.out}: {len(rows)} patients, grade 4 in {g4}")


if __name__ == "__main__":
    main()

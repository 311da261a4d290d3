"""Misspecified cohorts of several shapes, in the nadir-bench format, deterministic from a seed.

usage: python bench/cohorts/simulate.py --out DIR [--cohort NAME ...] [--seed 23] [--per-regimen 25]

Writes DIR/NAME/histories.jsonl and DIR/NAME/truth.jsonl for each cohort. Each cohort departs from
the textbook model in one way (``COHORTS``); the true model is ``truth_model.py``. Clinic-like
sampling as in ``bench/synthetic_cohort.py``: a pre-dose count on every day 1, one or two counts at
random days of each earlier cycle, in the target cycle sometimes one early count (days 3-5); a 20 %
dose reduction sometimes follows a measured grade-4 count.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import truth_model as tm  # noqa: E402


@dataclass(frozen=True)
class Cohort:
    name: str
    description: str
    regimens: tuple[tm.Regimen, ...]
    departures: tm.Departures


# Two regimens without G-CSF (one d1/d8), one with pegfilgrastim on day 2, one dose-dense with
# daily filgrastim: the regimen mix of every cohort but the G-CSF one.
MIXED = (
    tm.Regimen("CX-A-Q3W", "Cx-a q3w", 21, (1,), "intermediate", 0.6, "none", tm.System(mtt_h=95.0)),
    tm.Regimen("CX-B-PEG-Q3W", "Cx-b q3w with pegfilgrastim", 21, (1,), "high", 0.2, "peg-d2",
               tm.System(mtt_h=90.0, gcsf_emax=1.2)),
    tm.Regimen("CX-C-FIL-Q2W", "Cx-c q2w with filgrastim", 14, (1,), "high", 0.35, "fil-d3-10",
               tm.System(mtt_h=110.0, gcsf_emax=1.0, gcsf_share=0.7)),
    tm.Regimen("CX-D-D1D8-Q3W", "Cx-d d1,d8 q3w", 21, (1, 8), "intermediate", 0.7, "none",
               tm.System(mtt_h=120.0, gamma=0.2)),
)

_GCSF_IIV = {"circ0": 0.3, "mtt_h": 0.18, "slope": 0.4, "gamma": 0.2, "gcsf": 0.8}
GCSF = (
    tm.Regimen("GX-A-PEG-Q3W", "Gx-a q3w with pegfilgrastim", 21, (1,), "high", 0.15, "peg-d2",
               tm.System(mtt_h=90.0, gcsf_emax=1.5, iiv=_GCSF_IIV)),
    tm.Regimen("GX-B-PEG-Q2W", "Gx-b dose-dense q2w with pegfilgrastim", 14, (1,), "high", 0.4, "peg-d2",
               tm.System(mtt_h=100.0, gcsf_emax=1.0, gcsf_share=0.8, iiv=_GCSF_IIV)),
    tm.Regimen("GX-C-FIL-Q3W", "Gx-c q3w with filgrastim days 3-10", 21, (1,), "high", 0.12, "fil-d3-10",
               tm.System(mtt_h=95.0, gcsf_emax=2.0, gcsf_share=0.6, iiv=_GCSF_IIV)),
    tm.Regimen("GX-D-D1D8-FIL-Q3W", "Gx-d d1,d8 q3w with filgrastim days 9-16", 21, (1, 8), "intermediate",
               0.5, "fil-d9-16", tm.System(mtt_h=110.0, iiv=_GCSF_IIV)),
)

COHORTS = {c.name: c for c in (
    Cohort("textbook", "control: the textbook model, 20 % lab error", MIXED, tm.Departures()),
    Cohort("sensitivity", "drug sensitivity varies from cycle to cycle (30 %)", MIXED,
           tm.Departures(iov_slope=0.3)),
    Cohort("transit-baseline", "transit time (15 %) and baseline (20 %) vary from cycle to cycle", MIXED,
           tm.Departures(iov_mtt=0.15, iov_base=0.2)),
    Cohort("damage", "cumulative marrow damage: baseline -4 % per full dose (between patients x/÷ 1.6)",
           MIXED, tm.Departures(damage_median=0.04)),
    Cohort("heavy-tails", "lab error Student-t, 3 degrees of freedom, scale 15 %", MIXED,
           tm.Departures(noise_sd=0.15, noise_df=3.0)),
    Cohort("lab-drift", "lab bias 10 % in cycle 1, drifting 15 % a cycle (random walk)", MIXED,
           tm.Departures(bias_sd=0.1, bias_drift=0.15)),
    Cohort("gcsf-response", "G-CSF regimens (pegfilgrastim, daily filgrastim); G-CSF response varies "
           "between patients (80 %) and from cycle to cycle (40 %)", GCSF, tm.Departures(iov_gcsf=0.4)),
)}


def _count_hours(cycle: int, target: int, length_h: float, rng: np.random.Generator) -> list[float]:
    """Return the hours (from the cycle's dose) of the counts taken in a cycle's window."""
    hours = [0.0] if cycle == 0 else []
    if cycle < target - 1:
        days = rng.choice(np.arange(3, int(length_h / 24)), size=rng.choice([1, 2]), replace=False)
        hours += [(d - 1) * 24.0 + rng.uniform(0.0, 6.0) for d in sorted(days)]
        hours.append(length_h - rng.uniform(1.0, 3.0))      # the next cycle's pre-dose count
    elif cycle == target - 1 and rng.random() < 0.4:
        hours.append(int(rng.integers(2, 5)) * 24.0 + rng.uniform(0.0, 6.0))
    return [round(h * 60) / 60 for h in hours]               # the history's times are in minutes


def regimen_cohort(regimen: tm.Regimen, departures: tm.Departures, count: int, rng: np.random.Generator,
                   prefix: str) -> list[tuple[dict, dict]]:
    """Return (history, truth) pairs for ``count`` patients on one regimen."""
    patients = tm.draw_patients(regimen, departures, tm.truncated_normal(rng, (len(tm.STATIC), count)))
    targets = rng.choice([1, 2, 3, 4], size=count, p=[0.2, 0.35, 0.3, 0.15])
    length_h = regimen.cycle_days * 24.0
    fractions = np.ones(count)
    per_cycle_fractions: list[np.ndarray] = []
    counts: list[list[tuple[float, float]]] = [[] for _ in range(count)]
    truth: dict[int, tuple[float, float]] = {}
    for cycle in range(int(targets.max())):
        if cycle > 0:
            low = np.array([any(v < 0.5 for t, v in counts[j] if (cycle - 1) * length_h <= t < cycle * length_h)
                            for j in range(count)])
            fractions = np.where(low & (rng.random(count) < 0.4), fractions * 0.8, fractions)
        per_cycle_fractions.append(fractions.copy())
        occasion = tm.draw_occasion(departures, patients, cycle, tm.truncated_normal(rng, (len(tm.PER_CYCLE), count)))
        hours = [_count_hours(cycle, int(targets[j]), length_h, rng) for j in range(count)]
        record = {int(h // tm.STEP_H) + k for hs in hours for h in hs for k in (0, 1)}
        nadir, nadir_h, recorded = tm.run_cycle(patients, occasion, regimen, fractions, record)
        errors = tm.lab_error(departures, 4 * count, rng).reshape(4, count)
        for j in range(count):
            for index, hour in enumerate(hours[j]):
                step, weight = int(hour // tm.STEP_H), (hour % tm.STEP_H) / tm.STEP_H
                latent = recorded[step][j] * (1 - weight) + recorded[step + 1][j] * weight
                counts[j].append((cycle * length_h + hour,
                                  tm.measured(float(latent), float(patients.bias[j] + errors[index, j]))))
            if cycle == targets[j] - 1:
                truth[j] = (float(nadir[j]), float(nadir_h[j]))
    base = datetime(2026, 1, 5, 9, 0)
    rows = []
    for j in range(count):
        start_date = base + timedelta(days=int(rng.integers(0, 300)))
        target_start = (targets[j] - 1) * length_h

        def iso(hours: float, start_date: datetime = start_date) -> str:
            return (start_date + timedelta(hours=float(hours))).isoformat(timespec="minutes")

        doses = [{"time": iso(c * length_h + (d - 1) * 24.0),
                  "dose_fraction": round(float(per_cycle_fractions[c][j]), 3)}
                 for c in range(targets[j]) for d in regimen.chemo_days
                 if c * length_h + (d - 1) * 24.0 <= target_start]
        gcsf = [{"time": iso(c * length_h + h), "product": p}
                for c in range(targets[j]) for h, p in tm.gcsf_hours(regimen.gcsf)]
        units = rng.choice(["10^9/L", "10^3/uL", "/uL"], p=[0.8, 0.1, 0.1])
        cid = f"{prefix}-{regimen.code}-{j:03d}"
        history = {
            "id": cid,
            "regimen": {"code": regimen.code, "name": regimen.name, "cycle_length_days": regimen.cycle_days,
                        "fn_risk": regimen.fn_risk},
            "doses": doses,
            "gcsf": gcsf,
            "counts": [{"time": iso(t), "anc": round(v * 1000) if units == "/uL" else v, "unit": str(units)}
                       for t, v in counts[j]],
            "forecast_cycle_start": iso(target_start),
        }
        nadir, nadir_h = truth[j]
        rows.append((history, {"id": cid, "regimen": regimen.code, "target_cycle": int(targets[j]),
                               "nadir_anc": round(nadir, 4), "nadir_day": round(1.0 + nadir_h / 24.0, 2),
                               "grade4": nadir < 0.5, "grade3plus": nadir < 1.0, "n_counts": len(counts[j])}))
    return rows


def build(cohort: Cohort, seed: int, per_regimen: int) -> list[tuple[dict, dict]]:
    """Return the cohort's (history, truth) pairs; the same seed gives the same cohort."""
    rows = []
    for index, regimen in enumerate(cohort.regimens):
        rng = np.random.default_rng([seed, index])
        rows += regimen_cohort(regimen, cohort.departures, per_regimen, rng, f"{cohort.name}{seed}")
    return rows


def write(rows: list[tuple[dict, dict]], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "histories.jsonl").write_text("".join(json.dumps(h) + "\n" for h, _ in rows))
    (directory / "truth.jsonl").write_text("".join(json.dumps(t) + "\n" for _, t in rows))


def with_departures(cohort: Cohort, **changes: float) -> Cohort:
    return replace(cohort, departures=replace(cohort.departures, **changes))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--cohort", action="append", choices=sorted(COHORTS))
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--per-regimen", type=int, default=25)
    args = parser.parse_args()
    for name in args.cohort or list(COHORTS):
        rows = build(COHORTS[name], args.seed, args.per_regimen)
        write(rows, args.out / name)
        print(f"{args.out / name}: {len(rows)} patients, grade 4 in {sum(t['grade4'] for _, t in rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

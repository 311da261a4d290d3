"""The best forecast a synthetic cohort allows: its own simulator and its true population prior.

usage: python bench/oracle.py HISTORIES --kind KIND [--no-departures] [--draws 1500] [--out PATH]
       then: python ../shared/nadir-bench/score.py TRUTH PATH

For a cohort written by ``bench/synthetic_cohort.py`` (same ``--kind`` and ``--no-departures``), each
history is forecast by importance sampling from the simulator's own prior: ``--draws`` virtual
patients are drawn with the true typical values, inter-individual variability, cycle-to-cycle
variability of the drug effect and marrow damage; each is simulated through the history's doses and
G-CSF with the simulator itself, weighted by the likelihood of the measured counts under the true lab
noise (with its outlier share), and the weighted draws give the nadir's median, its 80 % interval and
P(grade 4). Nothing here is estimated, so what it scores is what the counts themselves allow: the
counterpart of nadir-bench's "Bayes reference" for our own cohorts. It shares no code with the
engine and is slow (seconds per history); it is a yardstick, not a forecaster.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic_cohort as sc  # noqa: E402


def regimens(kind: str, departures: bool) -> dict[str, sc.Regimen]:
    """Return the cohort's regimens by code, as ``synthetic_cohort.build`` simulated them."""
    found = {}
    for regimen in sc.KINDS[kind]:
        if not departures:
            regimen = replace(regimen, system=replace(regimen.system, iov_slope=0.0, damage_per_dose=0.0,
                                                      outlier_rate=0.0, noise_cv=0.2))
        found[regimen.code] = regimen
    return found


def forecast(history: dict, regimen: sc.Regimen, draws: int, rng: np.random.Generator) -> dict:
    """Return the oracle's forecast of one history (nadir-bench output format, without trajectory)."""
    s = regimen.system
    origin = datetime.fromisoformat(history["doses"][0]["time"])

    def hours(iso: str) -> float:
        return (datetime.fromisoformat(iso) - origin).total_seconds() / 3600.0

    length = regimen.cycle_days * 24.0
    start = hours(history["forecast_cycle_start"])
    cycles = int(round(start / length)) + 1
    end_h = cycles * length + 6.0
    n = int(end_h / sc.STEP_H)
    typical = {"circ0": s.circ0, "mtt_h": s.mtt_h, "slope": sc._typical_slope(regimen), "gamma": s.gamma,
               "gcsf": s.gcsf_emax}
    params = {k: v * np.exp(s.iiv[k] * rng.standard_normal(draws)) for k, v in typical.items()}
    occasion = np.exp(s.iov_slope * rng.standard_normal((cycles, draws))) if s.iov_slope else np.ones((cycles, draws))
    drug, given, peg, fil = (np.zeros((n, draws)) for _ in range(4))

    def dose(at_h: float, fraction: float) -> None:
        cycle, step = min(int(at_h // length), cycles - 1), int(round(at_h / sc.STEP_H))
        drug[step] += fraction * occasion[cycle]
        given[step] += fraction

    for item in history["doses"]:
        dose(hours(item["time"]), item["dose_fraction"])
    # The target cycle's later doses (day 8 of a d1/d8 regimen) are planned, not yet in the history.
    day1 = [d["dose_fraction"] for d in history["doses"] if abs(hours(d["time"]) - start) < 1.0]
    for day in regimen.chemo_days[1:]:
        dose(start + (day - 1) * 24.0, day1[0] if day1 else 1.0)
    for item in history["gcsf"]:
        step = int(round(hours(item["time"]) / sc.STEP_H))
        if step < n:
            (peg if item["product"] == "pegfilgrastim" else fil)[step] += 1.0
    damage = np.full(draws, s.damage_per_dose) if s.damage_per_dose else None
    circ = sc._simulate(params, s, end_h, drug, peg, fil, damage, given)

    grid = np.arange(n + 1) * sc.STEP_H
    loglik = np.zeros(draws)
    inlier_sd, outlier_sd = s.noise_cv, math.hypot(s.noise_cv, sc.OUTLIER_LOG_SD)
    for count in history["counts"]:
        value = count["anc"] / 1000.0 if count["unit"] == "/uL" else count["anc"]
        at = hours(count["time"])
        step = int(np.clip(np.searchsorted(grid, at) - 1, 0, n - 1))
        weight = (at - grid[step]) / sc.STEP_H
        latent = circ[step] * (1 - weight) + circ[step + 1] * weight
        residual = math.log(max(value, 0.01)) - np.log(np.maximum(latent, 1e-6))
        inlier = math.log1p(-s.outlier_rate) - math.log(inlier_sd) - 0.5 * (residual / inlier_sd) ** 2
        if s.outlier_rate:
            outlier = math.log(s.outlier_rate) - math.log(outlier_sd) - 0.5 * (residual / outlier_sd) ** 2
            inlier = np.logaddexp(inlier, outlier)
        loglik += inlier
    weights = np.exp(loglik - loglik.max())
    weights /= weights.sum()
    window = (grid >= start) & (grid <= start + length)
    nadir = circ[window].min(axis=0)
    nadir_h = grid[window][circ[window].argmin(axis=0)] - start
    order = np.argsort(nadir)
    cumulative = np.cumsum(weights[order])

    def level(q: float) -> float:
        return round(float(nadir[order][min(int(np.searchsorted(cumulative, q)), draws - 1)]), 4)

    return {"id": history["id"],
            "nadir": {"anc": level(0.5), "day_of_cycle": round(1.0 + float(weights @ nadir_h) / 24.0, 2),
                      "interval80": [level(0.1), level(0.9)]},
            "p_grade4": round(float(weights @ (nadir < 0.5)), 4),
            "ess": round(float(1.0 / np.sum(weights**2)), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("histories", type=Path)
    parser.add_argument("--kind", choices=sorted(sc.KINDS), required=True)
    parser.add_argument("--no-departures", action="store_true")
    parser.add_argument("--draws", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="default: oracle.jsonl beside the histories")
    args = parser.parse_args()
    known = regimens(args.kind, not args.no_departures)
    rng = np.random.default_rng(args.seed)
    out = args.out or args.histories.with_name("oracle.jsonl")
    with out.open("w") as sink:
        for line in args.histories.read_text().splitlines():
            if line.strip():
                history = json.loads(line)
                sink.write(json.dumps(forecast(history, known[history["regimen"]["code"]], args.draws, rng)) + "\n")
    print(f"oracle forecasts: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check the oracle against what it cannot see: the ranks of the true random effects in its posterior.

usage: python bench/cohorts/oracle_check.py --cohort NAME [--seed 24] [--per-regimen 50] [--particles 500]

Builds the cohort as ``simulate.build`` does, recording the standard normals the generator drew
(every random effect of every patient), forecasts each history with the oracle and prints, for each
random effect, the share of histories whose true value falls below the 0.05 or above the 0.95
quantile of the oracle's weighted posterior: 10 % for a correct posterior, more if the sampler
misses a mode or a tail (simulation-based calibration). About ten ranks a patient: a far sharper
check than one coverage outcome a patient (80 patients: one SE of coverage is 0.045). Also printed:
the nadir's 80 % coverage and the median effective sample size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import oracle  # noqa: E402
import simulate  # noqa: E402
import truth_model as tm  # noqa: E402

# A rank this close to 0 or 1 is "in the tails": 10 % of a correct posterior's ranks.
TAIL = 0.05


def build_recorded(cohort: simulate.Cohort, seed: int, per_regimen: int) -> list[tuple[dict, dict, tm.Regimen,
                                                                                        np.ndarray]]:
    """Return ``simulate.build``'s (history, truth) pairs with each patient's regimen and standard normals.

    ``simulate.regimen_cohort`` draws the patients' own effects first, then each cycle's: recorded in
    that order, they are the oracle's layout (``STATIC``, then ``PER_CYCLE`` for every cycle).
    """
    rows = []
    original = tm.truncated_normal
    drawn: list[np.ndarray] = []

    def recording(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        z = original(rng, shape)
        drawn.append(z)
        return z

    for index, regimen in enumerate(cohort.regimens):
        drawn.clear()
        tm.truncated_normal = recording
        try:
            pairs = simulate.regimen_cohort(regimen, cohort.departures, per_regimen,
                                            np.random.default_rng([seed, index]), f"{cohort.name}{seed}")
        finally:
            tm.truncated_normal = original
        rows += [(history, truth, regimen, np.concatenate([z[:, j] for z in drawn]))
                 for j, (history, truth) in enumerate(pairs)]
    return rows


def ranks(rows: list, cohort: simulate.Cohort, particles: int, seed: int) -> list[dict]:
    """Return, per history, the posterior rank of each true random effect (by name) and the forecast."""
    names = [*tm.STATIC, *(f"cycle {c + 1} {name}" for c in range(8) for name in tm.PER_CYCLE)]
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row[2].code, []).append(row)
    found = []
    for index, group in enumerate(groups.values()):
        kept: dict = {}
        forecasts = oracle.filter_regimen([h for h, *_ in group], group[0][2], cohort.departures, particles,
                                          np.random.default_rng([seed, index, 7919]), max_rounds=24, keep=kept)
        for (history, truth, regimen, z), forecast in zip(group, forecasts):
            draws, weights, active = kept[history["id"]]
            true = z[:active.size]
            case = oracle._read(history, regimen)
            _, nadir, _ = oracle.simulate_cases([case], regimen, cohort.departures, true[:, None].copy())
            assert abs(nadir[0] - truth["nadir_anc"]) < 1e-3, "the recorded effects are not the generator's"
            rank = weights @ (draws < true[active][:, None]).T
            found.append({"truth": truth, "forecast": forecast,
                          "ranks": dict(zip(np.array(names[:active.size])[active], rank))})
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", required=True, choices=sorted(simulate.COHORTS))
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--per-regimen", type=int, default=50)
    parser.add_argument("--particles", type=int, default=500)
    parser.add_argument("--oracle-seed", type=int, default=1)
    args = parser.parse_args()
    cohort = simulate.COHORTS[args.cohort]
    found = ranks(build_recorded(cohort, args.seed, args.per_regimen), cohort, args.particles, args.oracle_seed)
    by_name: dict[str, list[float]] = {}
    for row in found:
        for name, rank in row["ranks"].items():
            by_name.setdefault(name, []).append(rank)

    def tails(values: list[float]) -> float:
        return float(np.mean([(r < TAIL) | (r > 1 - TAIL) for r in values]))

    for name, values in by_name.items():
        print(f"{name:18s} n {len(values):4d}  in the tails {tails(values):.3f}  mean rank {np.mean(values):.2f}")
    every = [r for values in by_name.values() for r in values]
    intervals = [(f["forecast"]["nadir"]["interval80"], f["truth"]["nadir_anc"]) for f in found]
    covered = np.mean([low <= truth <= high for (low, high), truth in intervals])
    print(f"{args.cohort}, seed {args.seed}, {len(found)} patients: {len(every)} ranks, "
          f"in the tails {tails(every):.3f} (a correct posterior: {2 * TAIL:.2f}); nadir 80 % coverage {covered:.3f}; "
          f"median ESS {statistics.median(f['forecast']['ess'] for f in found):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the misspecified cohorts, forecast them with the engine and the oracle, print the ratios.

usage: python bench/cohorts/run.py [--out /tmp/nw-cohorts] [--cohort NAME ...] [--seed 23]
       [--per-regimen 20] [--particles 500] [--oracle-seeds 2] [--max-rounds 24] [--no-pooling] [--by-regimen]
       [--pool-extra 0] [--reuse-oracle] [--markdown]

Every cohort of ``simulate.COHORTS`` is generated from ``--seed`` (the same seed, the same cohort),
written in the nadir-bench format, forecast by the engine as ``bench/forecast.py`` does (regimen
priors learned from the cohort first, unless ``--no-pooling``; ``--pool-extra N``: also from N more
patients per regimen of the same population, unscored, as a clinic with more patients would) and by
the oracle (``oracle.py``) once per oracle seed, and every forecast file is scored with
nadir-bench's own ``score.py``. The oracle's figures are the means over its seeds; its noise is
their standard error (``oracle_noise``). The grade-4 AUC is computed here (nadir-bench's scorer has
none). ``--reuse-oracle`` reads the oracle's forecasts written by an earlier run with the same
arguments instead of sampling again.
Default size: 4 regimens x 20 patients per cohort (a subsample of nadir-bench's 50), 2 oracle seeds
of 500 draws a round, up to 24 rounds: about 40 s of CPU per cohort and seed for the oracle (the
textbook cohort; more for the harder ones), 10-12 CPU minutes in all.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BENCH = next((p for p in (REPO.parent / "shared" / "nadir-bench", REPO.parent.parent / "shared" / "nadir-bench")
              if p.exists()), REPO.parent / "shared" / "nadir-bench")
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import oracle  # noqa: E402
import simulate  # noqa: E402

from monitoring.forecasting import HistoryError, forecast_history, learn_populations, regimen_key  # noqa: E402


def _scorer():
    spec = importlib.util.spec_from_file_location("nadir_bench_score", BENCH / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def auc(truth: dict, predictions: dict) -> float:
    """Return the grade-4 ROC AUC of P(grade 4) (ties count half; a missing forecast scores 0)."""
    scores = np.array([float(predictions.get(cid, {}).get("p_grade4") or 0.0) for cid in truth])
    labels = np.array([bool(t["grade4"]) for t in truth.values()])
    positive, negative = scores[labels], scores[~labels]
    if not positive.size or not negative.size:
        return float("nan")
    return float((positive[:, None] > negative[None, :]).mean() + 0.5 * (positive[:, None] == negative[None, :]).mean())


def engine_forecasts(histories: list[dict], pooling: bool,
                     also_learn_from: list[dict] = ()) -> tuple[dict, list[float]]:
    """Return the engine's forecasts by id (an error line where it refused) and ms per forecast.

    The regimen priors are learned from the histories (and ``also_learn_from``) first, as the
    ``forecast`` command does, unless ``pooling`` is off.
    """
    populations = learn_populations([*histories, *also_learn_from]) if pooling else {}
    found, timings = {}, []
    for history in histories:
        started = time.perf_counter()
        try:
            result = forecast_history(history, populations.get(regimen_key(history)))
        except HistoryError as error:
            result = {"id": history["id"], "error": str(error)}
        timings.append((time.perf_counter() - started) * 1000)
        found[result["id"]] = result
    return found, timings


def _metrics(scorer, truth: dict, predictions: dict) -> dict:
    scores = scorer.score(truth, predictions)
    scores["auc"] = auc(truth, predictions)
    return scores


KEYS = ("mae_log10", "brier", "cover80", "auc")


def oracle_noise(scorer, truth: dict, oracles: list[dict], mixtures: int = 200) -> dict:
    """Return the standard error of the oracle's metrics averaged over its seeds.

    The Monte Carlo error of one seed's metric is read from mixtures of the seeds (each patient's
    forecast taken from a seed at random: each mixture is another run's worth of independent
    per-patient errors; picking among K values under-states their variance by (K - 1) / K), then
    divided by sqrt(K): sd / sqrt(K - 1). Works for medians (mae_log10) and the AUC alike, and
    needs only two seeds.
    """
    if len(oracles) < 2:
        return {k: float("nan") for k in KEYS}
    rng = np.random.default_rng(0)
    ids = list(truth)
    runs = []
    for _ in range(mixtures):
        pick = rng.integers(0, len(oracles), len(ids))
        runs.append(_metrics(scorer, truth, {cid: oracles[k][cid] for cid, k in zip(ids, pick)}))
    return {k: statistics.stdev(r[k] for r in runs) / (len(oracles) - 1) ** 0.5 for k in KEYS}


def _write(path: Path, forecasts) -> None:
    path.write_text("".join(json.dumps(f) + "\n" for f in forecasts))


def run_cohort(name: str, args, scorer) -> list[dict]:
    """Return one row per subset (the cohort, then its regimens if asked) with engine and oracle figures."""
    cohort = simulate.COHORTS[name]
    directory = args.out / name
    rows = simulate.build(cohort, args.seed, args.per_regimen)
    simulate.write(rows, directory)
    histories = [h for h, _ in rows]
    truth = {t["id"]: t for _, t in rows}
    # More patients of the same population to learn the regimen priors from (another seed, not scored).
    extra = [h for h, _ in simulate.build(cohort, args.seed + 1000, args.pool_extra)] if args.pool_extra else []
    engine, timings = engine_forecasts(histories, not args.no_pooling, extra)
    _write(directory / "engine.jsonl", engine.values())
    oracles = []
    for seed in range(1, args.oracle_seeds + 1):
        path = directory / f"oracle-p{args.particles}-r{args.max_rounds}-s{seed}.jsonl"
        if args.reuse_oracle and path.exists():
            forecasts = [json.loads(line) for line in path.read_text().splitlines() if line]
        else:
            forecasts = oracle.forecast_cohort(histories, cohort, args.particles, seed, args.max_rounds)
            _write(path, forecasts)
        oracles.append({f["id"]: f for f in forecasts})
    subsets = [("all", truth)]
    if args.by_regimen:
        subsets += [(r.code, {c: t for c, t in truth.items() if t["regimen"] == r.code}) for r in cohort.regimens]
    table = []
    for label, subset in subsets:
        per_seed = [_metrics(scorer, subset, o) for o in oracles]
        mean = {k: statistics.mean(s[k] for s in per_seed) for k in KEYS}
        noise = oracle_noise(scorer, subset, oracles)
        ess = [f["ess"] for o in oracles for cid, f in o.items() if cid in subset]
        table.append({"cohort": name if label == "all" else f"  {label}", "n": len(subset),
                      "engine": _metrics(scorer, subset, engine), "oracle": mean, "noise": noise,
                      "ess": statistics.median(ess), "low_ess": sum(e < 100 for e in ess) / len(ess),
                      "not_forecast": sum(1 for cid in subset if not engine.get(cid, {}).get("nadir")),
                      "fallback": sum(1 for cid in subset if engine.get(cid, {}).get("fallback")),
                      "ms": statistics.median(timings)})
    return table


def _ratio(engine: float, oracle_value: float) -> str:
    return f"{engine:.3f} / {oracle_value:.3f} (x{engine / oracle_value:.2f})"


def print_table(rows: list[dict], markdown: bool) -> None:
    header = ["cohort", "n", "mae_log10 engine / oracle", "Brier engine / oracle", "cover80 engine / oracle",
              "grade-4 AUC engine / oracle", "not forecast (fallback)", "oracle noise mae / Brier / cover",
              "oracle ESS median (share < 100)"]
    lines = []
    for row in rows:
        e, o, z = row["engine"], row["oracle"], row["noise"]
        lines.append([row["cohort"], str(row["n"]), _ratio(e["mae_log10"], o["mae_log10"]),
                      _ratio(e["brier"], o["brier"]), f"{e['cover80']:.3f} / {o['cover80']:.3f}",
                      f"{e['auc']:.3f} / {o['auc']:.3f}", f"{row['not_forecast']} ({row['fallback']})",
                      f"{z['mae_log10']:.4f} / {z['brier']:.4f} / {z['cover80']:.4f}",
                      f"{row['ess']:.0f} ({row['low_ess']:.2f})"])
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    for line in [header, *lines]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/nw-cohorts"))
    parser.add_argument("--cohort", action="append", choices=sorted(simulate.COHORTS))
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--per-regimen", type=int, default=20)
    parser.add_argument("--particles", type=int, default=500)
    parser.add_argument("--oracle-seeds", type=int, default=2)
    parser.add_argument("--max-rounds", type=int, default=24,
                        help="rounds of the oracle's sampler for a case still short of 300 effective draws")
    parser.add_argument("--no-pooling", action="store_true")
    parser.add_argument("--by-regimen", action="store_true")
    parser.add_argument("--pool-extra", type=int, default=0,
                        help="also learn the engine's regimen priors from N more patients per regimen (not scored)")
    parser.add_argument("--reuse-oracle", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    args.out = args.out / f"seed{args.seed}-n{args.per_regimen}"
    scorer = _scorer()
    forecast_history(simulate.build(simulate.COHORTS["textbook"], 0, 1)[0][0])  # warm-up: imports, caches
    started = time.perf_counter()
    rows = []
    for name in args.cohort or list(simulate.COHORTS):
        rows += run_cohort(name, args, scorer)
        print(f"{name}: done at {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(f"cohorts: seed {args.seed}, {args.per_regimen} patients per regimen; oracle {args.particles} particles x "
          f"{args.oracle_seeds} seeds; engine {'without' if args.no_pooling else 'with'} regimen priors learned "
          f"from each cohort; files in {args.out}")
    print_table(rows, args.markdown)
    targets = [r for r in rows if not r["cohort"].startswith(" ")]
    met = sum(r["engine"]["mae_log10"] <= 1.05 * r["oracle"]["mae_log10"]
              and r["engine"]["brier"] <= 1.05 * r["oracle"]["brier"]
              and 0.75 <= r["engine"]["cover80"] <= 0.85 for r in targets)
    print(f"targets (mae and Brier <= 1.05 x oracle, cover80 0.75-0.85) met on {met} of {len(targets)} cohorts; "
          f"engine median {statistics.median(r['ms'] for r in targets):.1f} ms per forecast; "
          f"{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())

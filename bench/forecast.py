"""Benchmark the nadir forecasting engine on a nadir-bench cohort and print the scores and timings.

usage: python bench/forecast.py [histories.jsonl [truth.jsonl]] [--unknown-codes] [--by-regimen] [--no-pooling]
       [--no-extensions | --always-extensions]
Defaults to <repo>/../shared/nadir-bench/tuning/; truth defaults to truth.jsonl beside the histories.
--unknown-codes  replace every regimen code with one the engine has no prior for (generic fallback)
--by-regimen     also score each regimen on its own
--no-pooling     literature/generic priors only (no regimen priors learned from the cohort)
--no-extensions  the textbook model: no cycle-to-cycle variability, no cumulative damage, a normal
                 likelihood with a fixed residual SD, no consistency with counts of the cycle
--always-extensions  the extensions for every patient (default: only where the counts depart from the
                 textbook fit, see engine.fit_history)
As the ``forecast`` command does, regimen priors are first learned from the whole cohort; the time to
learn them is printed apart from the time per forecast.
Cohorts the engine has never seen: bench/synthetic_cohort.py. Needs no Django.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Beside the checkout, or beside the directory of worktrees (a checkout in wt/NAME).
BENCH = next((p for p in (REPO.parent / "shared" / "nadir-bench", REPO.parent.parent / "shared" / "nadir-bench")
              if p.exists()), REPO.parent / "shared" / "nadir-bench")
sys.path.insert(0, str(REPO))

from monitoring.forecasting import (  # noqa: E402
    HistoryError,
    forecast_history,
    learn_populations,
    regimen_key,
)


def _scorer():
    spec = importlib.util.spec_from_file_location("nadir_bench_score", BENCH / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _line(scores: dict) -> str:
    return "  ".join(f"{key}={value}" for key, value in scores.items())


def main(argv: list[str]) -> int:
    """Forecast every history, score the predictions and print metrics and timings."""
    parser = argparse.ArgumentParser(description="Score the nadir forecasting engine on a cohort.")
    parser.add_argument("histories", nargs="?", type=Path, default=BENCH / "tuning" / "histories.jsonl")
    parser.add_argument("truth", nargs="?", type=Path)
    parser.add_argument("--unknown-codes", action="store_true")
    parser.add_argument("--by-regimen", action="store_true")
    parser.add_argument("--no-pooling", action="store_true")
    parser.add_argument("--no-extensions", action="store_true")
    parser.add_argument("--always-extensions", action="store_true")
    args = parser.parse_args(argv[1:])
    truth_path = args.truth or args.histories.with_name("truth.jsonl")
    histories = [json.loads(line) for line in args.histories.read_text().splitlines() if line.strip()]
    if args.unknown_codes:
        for history in histories:
            history["regimen"]["code"] = "UNLISTED-" + str(history["regimen"].get("code", ""))
            history["regimen"]["name"] = "unlisted regimen"
    forecast_history(histories[0])  # warm-up: imports, prior calibration caches
    started = time.perf_counter()
    extensions = False if args.no_extensions else ("always" if args.always_extensions else True)
    populations = {} if args.no_pooling else learn_populations(histories, extensions)
    learning_s = time.perf_counter() - started
    timings_ms, predictions = [], {}
    for history in histories:
        started = time.perf_counter()
        try:
            result = forecast_history(history, populations.get(regimen_key(history)), extensions)
        except HistoryError as error:
            result = {"id": history.get("id"), "error": str(error)}
        timings_ms.append((time.perf_counter() - started) * 1000)
        predictions[result["id"]] = result
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as out:
        out.write("".join(json.dumps(p) + "\n" for p in predictions.values()))
    scorer = _scorer()
    truth = scorer.load(truth_path)
    print(f"histories: {args.histories} ({len(histories)}){'  codes made unknown' if args.unknown_codes else ''}"
          f"  {'no pooling' if args.no_pooling else f'regimen priors learned: {len(populations)}'}"
          f"{'  textbook model (no extensions)' if extensions is False else ''}"
          f"{'  extensions for every patient' if extensions == 'always' else ''}")
    print(_line(scorer.score(truth, predictions)))
    if args.by_regimen:
        for regimen in dict.fromkeys(t["regimen"] for t in truth.values()):
            subset = {cid: t for cid, t in truth.items() if t["regimen"] == regimen}
            print(f"  {regimen:<22} {_line(scorer.score(subset, predictions))}")
    timings_ms.sort()
    p95 = timings_ms[min(len(timings_ms) - 1, int(0.95 * len(timings_ms)))]
    print(f"time per forecast: median {statistics.median(timings_ms):.1f} ms  p95 {p95:.1f} ms"
          f"  (learning the regimen priors: {learning_s:.1f} s, {1000 * learning_s / len(histories):.1f} ms "
          "per history)")
    print(f"predictions: {out.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

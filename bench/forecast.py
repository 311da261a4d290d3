"""Benchmark the nadir forecasting engine on a nadir-bench cohort and print the scores and timings.

usage: python bench/forecast.py [histories.jsonl [truth.jsonl]]
Defaults to <repo>/../shared/nadir-bench/tuning/. Needs no Django: imports monitoring.forecasting.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO.parent / "shared" / "nadir-bench"
sys.path.insert(0, str(REPO))

from monitoring.forecasting import HistoryError, forecast_history  # noqa: E402


def main(argv: list[str]) -> int:
    """Forecast every history, score the predictions and print metrics and timings."""
    histories_path = Path(argv[1]) if len(argv) > 1 else BENCH / "tuning" / "histories.jsonl"
    truth_path = Path(argv[2]) if len(argv) > 2 else histories_path.with_name("truth.jsonl")
    histories = [json.loads(line) for line in histories_path.read_text().splitlines() if line.strip()]
    forecast_history(histories[0])  # warm-up: imports, prior calibration caches
    timings_ms, lines = [], []
    for history in histories:
        started = time.perf_counter()
        try:
            result = forecast_history(history)
        except HistoryError as error:
            result = {"id": history.get("id"), "error": str(error)}
        timings_ms.append((time.perf_counter() - started) * 1000)
        lines.append(json.dumps(result))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as predictions:
        predictions.write("\n".join(lines) + "\n")
    print(f"histories: {histories_path} ({len(histories)})")
    scored = subprocess.run([sys.executable, str(BENCH / "score.py"), str(truth_path), predictions.name],
                            capture_output=True, text=True, check=False)
    print(scored.stdout.strip() or scored.stderr.strip())
    timings_ms.sort()
    p95 = timings_ms[min(len(timings_ms) - 1, int(0.95 * len(timings_ms)))]
    print(f"time per forecast: median {statistics.median(timings_ms):.1f} ms  p95 {p95:.1f} ms")
    print(f"predictions: {predictions.name}")
    return scored.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Time the what-if scenarios (every scenario, this cycle and the next) per history and print the figures.

usage: python bench/scenarios.py [histories.jsonl]
Defaults to the nadir-bench tuning cohort. Prints the median and p95 of the time to run all the
scenarios for one history (the fit itself, timed by bench/forecast.py, is not included), and how
often G-CSF or a lower dose comes out worse than the plan (it should not, beyond a draw or two).
Needs no Django.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from forecast import BENCH  # noqa: E402

from monitoring.forecasting.engine import fit_history  # noqa: E402
from monitoring.forecasting.scenarios import scenario_forecasts  # noqa: E402


def main(argv: list[str]) -> int:
    """Fit each history, time its scenarios, print the timings."""
    path = Path(argv[1]) if len(argv) > 1 else BENCH / "tuning" / "histories.jsonl"
    histories = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    scenario_forecasts(fit_history(histories[0]))   # warm-up
    timings, cpu, lower, worse = [], [], [], []
    for history in histories:
        fit = fit_history(history)
        started, started_cpu = time.perf_counter(), time.process_time()
        result = scenario_forecasts(fit)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        rows = {(r["cycle"], r["scenario"]): r for r in result["scenarios"]}
        planned = rows[("next", "as_planned")]["p_grade4"]
        keys = ("peg_day2", "filgrastim", "dose_80")
        lower.append(all(rows[("next", key)]["p_grade4"] <= planned for key in keys))
        worse.append(any(rows[("next", key)]["p_grade4"] > planned + 0.02 for key in keys))
    timings.sort()
    cpu.sort()
    p95 = timings[min(len(timings) - 1, int(0.95 * len(timings)))]
    cpu_p95 = cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))]
    print(f"histories: {path} ({len(histories)})")
    print(f"all scenarios, this cycle and the next: median {statistics.median(timings):.1f} ms  p95 {p95:.1f} ms"
          f"  max {timings[-1]:.1f} ms")
    # CPU time of this process: what the scenarios cost without the other processes on the machine.
    print(f"  CPU time: median {statistics.median(cpu):.1f} ms  p95 {cpu_p95:.1f} ms  max {cpu[-1]:.1f} ms")
    print(f"next cycle, pegfilgrastim, filgrastim and dose 80 % no worse than as planned: {sum(lower)}/{len(lower)};"
          f" worse by more than 0.02 P(grade 4): {sum(worse)}/{len(worse)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

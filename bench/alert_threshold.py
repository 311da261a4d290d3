"""Choose the "grade 4 predicted" alert threshold from costs, and print its sensitivity and specificity.

usage: python bench/alert_threshold.py [--cost-ratio 4] histories.jsonl [more.jsonl ...]
Each histories file needs truth.jsonl beside it (nadir-bench format). The engine forecasts every
history as the app does (regimen priors learned from the file first); a patient is "grade 4" when the
true nadir is below 0.5 x10^9/L. For a calibrated P(grade 4), alerting when P >= 1 / (1 + R) minimises
the expected cost when a missed grade 4 costs R false alerts. Printed per file: the ROC AUC, and
sensitivity, specificity and the share of patients alerted at that threshold (R = 4 gives 0.2, the
default GRADE4_PREDICTED_THRESHOLD since round 3: monitoring/clinical/thresholds.py) and at 0.5 (the
default before). Needs no Django.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitoring.forecasting import forecast_history, learn_populations, regimen_key  # noqa: E402


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Return the ROC AUC (the chance a grade-4 patient scores above one without, ties half)."""
    positive, negative = scores[labels], scores[~labels]
    if not positive.size or not negative.size:
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return float(greater + 0.5 * ties)


def at(threshold: float, scores: np.ndarray, labels: np.ndarray) -> str:
    alert = scores >= threshold
    sensitivity = (alert & labels).sum() / max(labels.sum(), 1)
    specificity = (~alert & ~labels).sum() / max((~labels).sum(), 1)
    return f"at {threshold:.2f}: sensitivity {sensitivity:.2f} specificity {specificity:.2f} alerted {alert.mean():.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("histories", nargs="+", type=Path)
    parser.add_argument("--cost-ratio", type=float, default=4.0,
                        help="cost of a missed grade 4 in false alerts (default 4)")
    args = parser.parse_args()
    threshold = 1.0 / (1.0 + args.cost_ratio)
    for path in args.histories:
        histories = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        truth = {t["id"]: t for t in map(json.loads, path.with_name("truth.jsonl").read_text().splitlines())}
        populations = learn_populations(histories)
        scores, labels = [], []
        for history in histories:
            forecast = forecast_history(history, populations.get(regimen_key(history)))
            scores.append(forecast["p_grade4"])
            labels.append(truth[history["id"]]["nadir_anc"] < 0.5)
        scores_array, labels_array = np.array(scores), np.array(labels)
        print(f"{path} ({len(histories)}, grade 4 in {labels_array.mean():.2f}): "
              f"AUC {auc(scores_array, labels_array):.3f}")
        print(f"  {at(threshold, scores_array, labels_array)}  (cost ratio {args.cost_ratio:g})")
        print(f"  {at(0.5, scores_array, labels_array)}  (the default before round 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

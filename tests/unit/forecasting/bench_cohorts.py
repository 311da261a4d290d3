"""The bench's cohort modules (bench/cohorts/: truth model, simulator, oracle), loaded by path for the
tests that use them: they are scripts beside the project, not a package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

COHORTS = Path(__file__).resolve().parents[3] / "bench" / "cohorts"
sys.path.insert(0, str(COHORTS))  # the bench modules import each other by name


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, COHORTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


truth_model = load("truth_model")
simulate = load("simulate")
oracle = load("oracle")

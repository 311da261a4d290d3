"""The Bayes limit of a cohort from ``simulate.py``: adaptive importance sampling with the true model.

usage: python bench/cohorts/oracle.py DIR --cohort NAME [--particles 500] [--seed 1] [--out PATH]

Every random effect of the true model is a standard normal (truncated at 4.5 SD): the patient's
own (Circ0, MTT, slope, gamma, G-CSF potency, damage, the first cycle's lab bias) and each cycle's
(sensitivity, transit time, baseline, G-CSF response, the lab bias's drift). For each history the
oracle samples all of them up to the target cycle, runs the draws through the history's doses with
``truth_model.run_cycle`` (the model that made the data) and weights them by the exact likelihood of
the counts (true lab error, normal or Student-t, with the drifting bias; a count at the lab's floor
censored). The first round draws from the true prior; each later round from a multivariate
Student-t fitted to the weighted draws so far (the likelihood tempered in over the first three
rounds), and all rounds' draws are weighted against the mixture of their proposals (deterministic
mixture weights), so nothing is approximated but the Monte Carlo. Cases whose effective sample size
is still under 300 get more rounds (up to 12). The weighted draws give the target cycle's nadir
median, its 80 % interval, the nadir day and P(grade 4).

One importance sample from the prior (``bench/oracle.py``) leaves single-digit effective samples
once each cycle has its own effects; here the median is several hundred (printed by ``run.py``
with the share of cases under 100). Whether that is good enough is checked by the oracle's own
80 % coverage (``run.py`` prints it; the tests check it on the textbook model). Patients of one
regimen are simulated together, vectorised over patients x draws.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import simulate  # noqa: E402
import truth_model as tm  # noqa: E402


@dataclass
class Case:
    """A history as the filter reads it: hours from the first dose, counts by cycle."""

    id: str
    target: int                                  # 0-based index of the target cycle
    fractions: np.ndarray                        # dose fraction of each cycle up to the target
    counts: dict[int, list[tuple[float, float]]]  # cycle -> [(hour from its dose, ANC 10^9/L)]


def _read(history: dict, regimen: tm.Regimen) -> Case:
    def at(iso: str) -> datetime:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).replace(tzinfo=None)

    origin = at(history["doses"][0]["time"])
    length = regimen.cycle_days * 24.0

    def hours(iso: str) -> float:
        return (at(iso) - origin).total_seconds() / 3600.0

    target = int(round(hours(history["forecast_cycle_start"]) / length))
    fractions = np.ones(target + 1)
    for dose in sorted(history["doses"], key=lambda d: d["time"], reverse=True):
        fractions[min(int(hours(dose["time"]) // length), target)] = dose["dose_fraction"]
    counts: dict[int, list[tuple[float, float]]] = {}
    for count in history["counts"]:
        value = count["anc"] / 1000.0 if count["unit"] == "/uL" else float(count["anc"])
        hour = hours(count["time"])
        cycle = min(int(hour // length), target)
        counts.setdefault(cycle, []).append((hour - cycle * length, value))
    return Case(history["id"], target, fractions, counts)


def _summary(case: Case, weights: np.ndarray, nadir: np.ndarray, nadir_h: np.ndarray) -> dict:
    order = np.argsort(nadir)
    cumulative = np.cumsum(weights[order])

    def level(q: float) -> float:
        return float(nadir[order][min(int(np.searchsorted(cumulative, q)), nadir.size - 1)])

    day_order = np.argsort(nadir_h)
    day = nadir_h[day_order][min(int(np.searchsorted(np.cumsum(weights[day_order]), 0.5)), nadir.size - 1)]
    return {"id": case.id,
            "nadir": {"anc": round(level(0.5), 4), "day_of_cycle": round(1.0 + float(day) / 24.0, 2),
                      "interval80": [round(level(0.1), 4), round(level(0.9), 4)]},
            "p_grade4": round(float(weights @ (nadir < 0.5)), 4),
            "p_grade3plus": round(float(weights @ (nadir < 1.0)), 4),
            "ess": round(float(1.0 / np.sum(weights ** 2)), 1)}


def _count_loglik(value: float, latent: np.ndarray, bias: np.ndarray, departures: tm.Departures) -> np.ndarray:
    residual = math.log(value) - np.log(np.maximum(latent, 1e-9)) - bias
    if value <= tm.COUNT_FLOOR:
        return tm.lab_log_cdf(residual, departures)
    return tm.lab_log_density(residual, departures)


def simulate_cases(cases: list[Case], regimen: tm.Regimen, departures: tm.Departures,
                   z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the log likelihood of every column's counts and its target cycle's nadir and nadir hour.

    ``cases`` are sorted by target cycle, latest first; columns ``i * n`` to ``(i + 1) * n`` of the
    standard normals ``z`` (``STATIC``, then ``PER_CYCLE`` for every cycle) belong to case ``i``.
    """
    n = z.shape[1] // len(cases)
    patients = tm.draw_patients(regimen, departures, z[:len(tm.STATIC)])
    loglik, nadir, nadir_h = (np.zeros(z.shape[1]) for _ in range(3))
    for cycle in range(cases[0].target + 1):
        active = sum(c.target >= cycle for c in cases)
        if active * n < patients.circ0.size:
            patients = patients.take(np.arange(active * n))
        fractions = np.repeat([c.fractions[cycle] for c in cases[:active]], n)
        first = len(tm.STATIC) + len(tm.PER_CYCLE) * cycle
        occasion = tm.draw_occasion(departures, patients, cycle, z[first:first + len(tm.PER_CYCLE), :active * n])
        record = {int(h // tm.STEP_H) + k for c in cases[:active] for h, _ in c.counts.get(cycle, ()) for k in (0, 1)}
        cycle_nadir, cycle_nadir_h, recorded = tm.run_cycle(patients, occasion, regimen, fractions, record)
        for i, case in enumerate(cases[:active]):
            cols = slice(i * n, (i + 1) * n)
            for hour, value in case.counts.get(cycle, ()):
                step, weight = int(hour // tm.STEP_H), (hour % tm.STEP_H) / tm.STEP_H
                latent = recorded[step][cols] * (1 - weight) + recorded[step + 1][cols] * weight
                loglik[cols] += _count_loglik(value, latent, patients.bias[cols], departures)
            if case.target == cycle:
                nadir[cols], nadir_h[cols] = cycle_nadir[cols], cycle_nadir_h[cols]
    return np.where(np.isfinite(loglik), loglik, -np.inf), nadir, nadir_h


PROPOSAL_DF = 5.0
COVARIANCE_INFLATION = 1.3
TEMPERING_ROUNDS = 3


@dataclass
class Proposal:
    """A multivariate Student-t over a case's active standard normals (``mean`` None: the prior)."""

    mean: np.ndarray | None = None
    chol: np.ndarray | None = None

    def draw(self, dims: int, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.mean is None:
            return tm.truncated_normal(rng, (dims, n))
        normal = rng.standard_normal((dims, n))
        scale = np.sqrt(rng.chisquare(PROPOSAL_DF, n) / PROPOSAL_DF)
        z = self.mean[:, None] + self.chol @ (normal / scale)
        # The prior is truncated at Z_LIMIT: draws outside are drawn again.
        outside = np.abs(z).max(axis=0) > tm.Z_LIMIT
        if outside.any():
            z[:, outside] = self.draw(dims, int(outside.sum()), rng)
        return z

    def log_density(self, z: np.ndarray) -> np.ndarray:
        d = z.shape[0]
        if self.mean is None:
            return -0.5 * d * math.log(2 * math.pi) - 0.5 * np.sum(z * z, axis=0)
        from scipy.linalg import solve_triangular

        u = solve_triangular(self.chol, z - self.mean[:, None], lower=True)
        nu = PROPOSAL_DF
        return (math.lgamma((nu + d) / 2) - math.lgamma(nu / 2) - 0.5 * d * math.log(nu * math.pi)
                - np.sum(np.log(np.diag(self.chol))) - 0.5 * (nu + d) * np.log1p(np.sum(u * u, axis=0) / nu))


def _fit(z: np.ndarray, weights: np.ndarray) -> Proposal:
    mean = z @ weights
    centred = z - mean[:, None]
    # Few effective draws under-state the spread: widen more then.
    inflation = COVARIANCE_INFLATION if 1.0 / np.sum(weights ** 2) > 3 * z.shape[0] else 2.0
    cov = (centred * weights) @ centred.T * inflation + 1e-3 * np.eye(z.shape[0])
    return Proposal(mean, np.linalg.cholesky(cov))


def _normalised(log_weights: np.ndarray) -> np.ndarray:
    weights = np.exp(log_weights - log_weights.max())
    return weights / weights.sum()


def filter_regimen(histories: list[dict], regimen: tm.Regimen, departures: tm.Departures, particles: int,
                   rng: np.random.Generator, rounds: int = 5, max_rounds: int = 12,
                   target_ess: float = 300.0, keep: dict | None = None) -> list[dict]:
    """Return the oracle's forecasts of histories on one regimen (in their order).

    Adaptive importance sampling: the first ``particles`` draws come from the true prior; each
    further round draws ``particles`` more from a multivariate Student-t fitted to the weighted draws
    so far (tempered over the first rounds), and every draw is weighted against the mixture of all
    the rounds' proposals (deterministic mixture). After ``rounds`` rounds, the cases whose effective
    sample size is still below ``target_ess`` get more rounds, up to ``max_rounds``.
    """
    cases = sorted((_read(h, regimen) for h in histories), key=lambda c: -c.target)
    n = particles
    dims = len(tm.STATIC) + len(tm.PER_CYCLE) * (cases[0].target + 1)
    active = []
    for case in cases:
        mask = np.zeros(dims, dtype=bool)
        mask[:len(tm.STATIC)] = tm.static_sds(regimen, departures) > 0
        for cycle in range(case.target + 1):
            first = len(tm.STATIC) + len(tm.PER_CYCLE) * cycle
            mask[first:first + len(tm.PER_CYCLE)] = tm.cycle_sds(departures, cycle) > 0
        active.append(mask)
    proposals = [[Proposal()] for _ in cases]
    drawn: list[list[np.ndarray]] = [[] for _ in cases]
    loglik, nadir, nadir_h = ([[] for _ in cases] for _ in range(3))
    weights = [np.empty(0)] * len(cases)
    todo = list(range(len(cases)))
    for round_ in range(max_rounds):
        subset = [cases[i] for i in todo]
        z = np.zeros((dims, len(todo) * n))
        for k, i in enumerate(todo):
            z[active[i], k * n:(k + 1) * n] = proposals[i][-1].draw(int(active[i].sum()), n, rng)
        round_loglik, round_nadir, round_nadir_h = simulate_cases(subset, regimen, departures, z)
        for k, i in enumerate(todo):
            cols = slice(k * n, (k + 1) * n)
            drawn[i].append(z[active[i], cols])
            loglik[i].append(round_loglik[cols])
            nadir[i].append(round_nadir[cols])
            nadir_h[i].append(round_nadir_h[cols])
            every = np.concatenate(drawn[i], axis=1)
            mixture = (np.logaddexp.reduce([q.log_density(every) for q in proposals[i]], axis=0)
                       - math.log(len(proposals[i])))
            log_prior, log_lik = Proposal().log_density(every), np.concatenate(loglik[i])
            weights[i] = _normalised(log_prior + log_lik - mixture)
            # Tempered: the proposal moves to the posterior over TEMPERING_ROUNDS rounds.
            beta = min(1.0, (round_ + 1) / TEMPERING_ROUNDS)
            proposals[i].append(_fit(every, _normalised(log_prior + beta * log_lik - mixture)))
        todo = [i for i in todo if round_ + 1 < rounds or 1.0 / np.sum(weights[i] ** 2) < target_ess]
        if not todo:
            break
    if keep is not None:
        keep.update({case.id: (np.concatenate(drawn[i], axis=1), weights[i], active[i])
                     for i, case in enumerate(cases)})
    found = {case.id: _summary(case, weights[i], np.concatenate(nadir[i]), np.concatenate(nadir_h[i]))
             for i, case in enumerate(cases)}
    return [found[h["id"]] for h in histories]


def forecast_cohort(histories: list[dict], cohort: simulate.Cohort, particles: int, seed: int,
                    max_rounds: int = 12) -> list[dict]:
    """Return the oracle's forecasts of a cohort's histories, in their order."""
    by_code = {r.code: r for r in cohort.regimens}
    groups: dict[str, list[dict]] = {}
    for history in histories:
        groups.setdefault(history["regimen"]["code"], []).append(history)
    found = {}
    for index, (code, group) in enumerate(groups.items()):
        rng = np.random.default_rng([seed, index, 7919])
        for forecast in filter_regimen(group, by_code[code], cohort.departures, particles, rng,
                                       max_rounds=max_rounds):
            found[forecast["id"]] = forecast
    return [found[h["id"]] for h in histories]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="holds histories.jsonl")
    parser.add_argument("--cohort", required=True, choices=sorted(simulate.COHORTS))
    parser.add_argument("--particles", type=int, default=500, help="draws per round")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    histories = [json.loads(line) for line in (args.directory / "histories.jsonl").read_text().splitlines() if line]
    forecasts = forecast_cohort(histories, simulate.COHORTS[args.cohort], args.particles, args.seed)
    out = args.out or args.directory / f"oracle-{args.seed}.jsonl"
    out.write_text("".join(json.dumps(f) + "\n" for f in forecasts))
    print(f"oracle forecasts: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

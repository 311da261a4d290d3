"""Learn a regimen's population prior from the counts of every patient on it (empirical Bayes).

A literature prior is a guess at a population that is not this clinic's, and an unknown regimen
only has the generic prior of its FN-risk category. Once enough patients on one regimen have counts
after their doses, those counts say far more about the regimen's typical potency, transit time and
G-CSF response than the literature does. This module fits a hierarchical model: each patient's
log-parameters are drawn from a normal population N(m, s^2) whose mean ``m`` and spread ``s`` are
themselves estimated, with the literature (or generic) prior as the hyperprior.

Method: each patient's posterior under the starting prior is already a set of draws (the engine's
importance sampler). Expectation-maximisation re-weights those draws by the ratio of the current
population density to the starting prior (no new simulation), and updates
- the mean, as the posterior of ``m`` under a normal hyperprior centred on the starting prior's mean
  with the starting prior's typical-value uncertainty as its SD;
- the spread, from the patients' posterior means and variances, with a few pseudo-patients at the
  literature inter-individual variability; the learned spread is never narrower than that
  variability (only a wider one is learned).
The learned prior's SD adds the remaining uncertainty of the learned mean, so the forecast for a
patient with no counts of their own stays honest. (Walker S, J Am Stat Assoc 1996;91:1632 describes
EM for population models from sampled posteriors; the re-weighting is standard importance sampling.)
A patient's own history is one of the many behind the learned prior; with the minimum group size
below, that patient's weight in it is small.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from .engine import (
    ALWAYS,
    DOSE_MATCH_H,
    Fit,
    departs_by,
    fit_history,
    forecast_history,
    regimen_departs,
)
from .errors import HistoryError
from .priors import ALIASES, GPOT_SD, IOV_KILL_SD, PARAMETERS, RESIDUAL_LOG_SD, TYPICAL_VALUE_SD, PopulationPrior
from .variability import MEDIAN_CHI2_1, cycle_pairs, estimate, fit_residuals, iov_profile

# Fewer patients than this on a regimen and its literature or generic prior is kept as it is.
MIN_PATIENTS = 12
# Pseudo-patients at the starting prior's inter-individual spread (regularises the learned spread).
SPREAD_PSEUDO_PATIENTS = 4.0
EM_ITERATIONS = 25
# Bounds of the learned cycle-to-cycle variability and residual SD (log scale). The learned IOV
# under-states (the shared sensitivity absorbs part of each earlier cycle's departure, see
# _learn_variability), so, as for the inter-individual spread, it never goes below the literature's
# (IOV_KILL_SD): on the misspecified synthetic cohorts (true IOV 20-30 %) the estimates were 0.05-0.13
# and the 80 % bands covered 0.65-0.74; floored, 0.81-0.83. The upper bounds are past the widest
# published values.
IOV_BOUNDS = (IOV_KILL_SD, 0.35)
RESIDUAL_BOUNDS = (0.12, 0.45)
# Fewer pairs of consecutive earlier cycles than this (variability.py) and the regimen's IOV is not tested.
MIN_CYCLE_PAIRS = 3
# Earlier-cycle counts this far below the fitted baseline (log scale) carry that cycle's sensitivity.
DEEP_FALL = -1.0
# A regimen the engine has no literature prior for starts from the generic prior of its FN-risk
# category. Of its typical values only the drug's own (the potency, ``kill``) and the baseline are
# learned from the clinic's counts; the marrow's kinetics (transit time, feedback) and the G-CSF
# response keep their literature values, and only their spread around them is learned. Friberg 2002
# found the system parameters alike across six drugs, and the G-CSF response is the marrow's, not
# the chemotherapy's (its typical value is matched to the published trial arms). Learned from one
# or two counts a cycle, those typical values drifted along the ridge such counts leave between
# potency, transit time and G-CSF response, often the wrong way: on the misspecified cohorts
# (bench/cohorts, 20 patients per regimen) a q3w regimen learned a transit time of 82 h (the
# truth's: 95 h) with a shallower nadir than the truth's, and a filgrastim regimen's G-CSF response
# fell from 2.0 to 0.09. Keeping them cut the cohorts' mae_log10 by 18 % (docs/forecasting.md). A
# regimen far more myelosuppressive than its category still learns it (its potency moves;
# tests/unit/forecasting/test_population.py). A known regimen learns every typical value: its
# hyperprior is narrow, and learning them helps on the tuning cohort.
GENERIC_LEARNED_TYPICAL = ("circ0", "kill")


def regimen_key(history: object) -> str:
    """Return the grouping key of a history: its regimen code (aliases resolved) and cycle length.

    An empty string for a history without a readable regimen (it is not pooled).
    """
    regimen = history.get("regimen") if isinstance(history, dict) else None
    if not isinstance(regimen, dict):
        return ""
    code = str(regimen.get("code") or "").strip().upper()
    return f"{ALIASES.get(code, code)}/{regimen.get('cycle_length_days')}d"


def learn_populations(histories: Iterable[dict], extensions: bool = True) -> dict[str, PopulationPrior]:
    """Return a learned prior per regimen key that has at least MIN_PATIENTS readable histories.

    ``extensions=False`` learns under the textbook model (see ``engine.fit_history``).
    """
    groups: dict[str, list[dict]] = defaultdict(list)
    for history in histories:
        key = regimen_key(history)
        if key:
            groups[key].append(history)
    learned = {}
    for key, members in groups.items():
        if len(members) < MIN_PATIENTS:
            continue
        fits, readable = [], []
        for history in members:
            try:
                fits.append(fit_history(history, extensions=extensions))
            except HistoryError:
                continue
            readable.append(history)
        population = learn_population(key, fits)
        if extensions is not False and regimen_departs(population):
            # The regimen's patients depart from the textbook, so its forecasts will use the
            # extensions: learn its prior (and residual SD) from extended fits. The departure tests
            # and the between-cycle IOV stay those of the textbook fits (what the switch measured).
            extended = learn_population(key, [fit_history(history, extensions=ALWAYS) for history in readable])
            population = replace(extended, departure_share=population.departure_share,
                                 cycle_iov=population.cycle_iov,
                                 iov_kill_sd=max(extended.iov_kill_sd, population.iov_kill_sd))
        if population is not None:
            learned[key] = population
    return learned


def _starting_prior(fit: Fit) -> tuple[np.ndarray, np.ndarray]:
    return fit.prior.log_mean(), fit.prior.log_sd()


def _sampling_prior(fit: Fit) -> tuple[np.ndarray, np.ndarray]:
    return fit.log_mean, fit.log_sd


def learn_population(key: str, fits: list[Fit]) -> PopulationPrior | None:
    """Return the population prior that best explains these patients' counts, or None if too few."""
    if len(fits) < MIN_PATIENTS:
        return None
    dims = len(PARAMETERS)
    start_mean = np.mean([_starting_prior(f)[0] for f in fits], axis=0)
    start_sd = np.mean([_starting_prior(f)[1] for f in fits], axis=0)
    extra = TYPICAL_VALUE_SD["generic" if fits[0].prior.generic else "known"]
    # Hyperprior SD of the typical value: as wide as the starting prior says it is uncertain.
    hyper_sd = np.array([*(extra[name] for name in PARAMETERS[:4]), GPOT_SD])
    # IIV to regularise the learned spread towards.
    iiv = np.array([*(fits[0].prior.iiv[name] for name in PARAMETERS[:4]), GPOT_SD])

    learned = [not fits[0].prior.generic or name in GENERIC_LEARNED_TYPICAL for name in PARAMETERS]
    mean, sd = start_mean.copy(), start_sd.copy()
    moments = []
    for _ in range(EM_ITERATIONS):
        moments = [_posterior_moments(fit, mean, sd) for fit in fits]
        new_mean, new_sd = mean.copy(), sd.copy()
        for d in range(dims):
            rows = [(m[0][d], m[1][d]) for m in moments if m[0].size > d]
            if not rows:
                continue
            post_means = np.array([r[0] for r in rows])
            post_vars = np.array([r[1] for r in rows])
            n = post_means.size
            precision = 1.0 / hyper_sd[d] ** 2 + n / sd[d] ** 2
            if learned[d]:
                new_mean[d] = (start_mean[d] / hyper_sd[d] ** 2 + post_means.sum() / sd[d] ** 2) / precision
            spread = np.sum(post_vars + (post_means - new_mean[d]) ** 2)
            new_sd[d] = np.sqrt((spread + SPREAD_PSEUDO_PATIENTS * iiv[d] ** 2) / (n + SPREAD_PSEUDO_PATIENTS))
        mean, sd = new_mean, new_sd
    counts = np.array([sum(m[0].size > d for m in moments) for d in range(dims)])
    mean_uncertainty = 1.0 / np.sqrt(1.0 / hyper_sd**2 + counts / sd**2)
    informative = sum(_informative(fit) for fit in fits)
    # Never claim less inter-individual variability than the literature does: with one or two
    # counts per cycle a small learned spread is more likely a fit artefact (or a model that is
    # wrong in a way the sparse counts cannot show) than a fact, and a too-narrow prior makes every
    # band over-confident. On the synthetic cohorts this floor lifted 80 % coverage back into range.
    sd = np.maximum(sd, iiv)
    # A parameter no patient informs (G-CSF response in a group without G-CSF) keeps its prior.
    log_sd = np.where(counts > 0, np.sqrt(sd**2 + mean_uncertainty**2), start_sd)
    iov, residual = _learn_variability(fits)
    # How many of the regimen's patients depart from the textbook (engine.fit_history uses it).
    departing = [fit.departed for fit in fits if _informative(fit)]
    share = float(np.mean(departing)) if len(departing) >= MIN_PATIENTS else None
    cycle_iov, iov = _between_cycle_iov(fits, iov, share, informative)
    return PopulationPrior(key=key, log_mean=mean, log_sd=log_sd, patients=len(fits), informative=informative,
                           residual_log_sd=residual, iov_kill_sd=iov, departure_share=share, cycle_iov=cycle_iov)


def _between_cycle_iov(fits: list[Fit], iov: float, share: float | None,
                       informative: int) -> tuple[float | None, float]:
    """Return the IOV the differences between patients' consecutive cycles show, and the IOV to forecast with.

    None without MIN_CYCLE_PAIRS pairs. Where the regimen departs (``engine.regimen_departs``: by
    this IOV or by its share of departing patients), the forecast's IOV is at least the upper end of
    the estimate's 80 % likelihood interval: a few pairs leave it uncertain, and the band must hold an
    IOV the counts do not rule out.
    """
    pairs = cycle_pairs(fits)
    if pairs.size < MIN_CYCLE_PAIRS:
        return None, iov
    best, upper = estimate(iov_profile(pairs))
    if departs_by(share, informative, best):
        iov = float(np.clip(max(iov, upper), *IOV_BOUNDS))
    return best, iov


def _learn_variability(fits: list[Fit]) -> tuple[float, float]:
    """Return the regimen's cycle-to-cycle variability of sensitivity and its typical residual SD.

    Counts deep in an earlier cycle's fall scatter around the patient's fit by the residual error plus
    that cycle's own sensitivity (times the depth of the fall); counts near baseline by the residual
    only. Robust (median-based) variances of both groups give the IOV. The fit absorbs part of each
    cycle's departure, so this under- rather than over-states it. The residual SD is the typical
    patient's learned one. Either falls back to its literature value without enough counts.
    """
    near, deep, depth, residual_sds = [], [], [], []
    for fit in fits:
        residual, fall, hours = fit_residuals(fit)
        earlier = hours < -DOSE_MATCH_H
        near += list(residual[np.abs(fall) < 0.3])
        chosen = (fall < DEEP_FALL) & earlier
        deep += list(residual[chosen])
        depth += list(fall[chosen])
        if residual.size >= 3:
            residual_sds.append(float(np.mean(fit.residual_sd)))
    iov = IOV_KILL_SD
    if len(near) >= 20 and len(deep) >= 20:
        near_var = np.median(np.square(near)) / MEDIAN_CHI2_1
        deep_var = np.median(np.square(deep)) / MEDIAN_CHI2_1
        iov = float(np.clip(np.sqrt(max(deep_var - near_var, 0.0) / np.median(np.square(depth))), *IOV_BOUNDS))
    residual = RESIDUAL_LOG_SD
    if len(residual_sds) >= MIN_PATIENTS:
        residual = float(np.clip(np.exp(np.mean(np.log(residual_sds))), *RESIDUAL_BOUNDS))
    return iov, residual


def _posterior_moments(fit: Fit, mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return a patient's posterior mean and variance per log-parameter under the prior N(mean, sd^2)."""
    x = fit.log_params
    dims = x.shape[1]
    m0, s0 = _sampling_prior(fit)
    log_ratio = (-0.5 * ((x - mean[:dims]) / sd[:dims]) ** 2 - np.log(sd[:dims])
                 + 0.5 * ((x - m0[:dims]) / s0[:dims]) ** 2 + np.log(s0[:dims])).sum(axis=1)
    weights = np.exp(log_ratio - log_ratio.max())
    weights /= weights.sum()
    post_mean = weights @ x
    post_var = weights @ (x - post_mean) ** 2
    return post_mean, post_var


def _informative(fit: Fit) -> bool:
    """Return whether a patient has a count after a chemotherapy dose (not only pre-dose counts)."""
    history = fit.history
    if not history.dose_hours:
        return False
    first_dose = min(history.dose_hours)
    return any(t > first_dose + 48.0 for t in history.count_hours)


def population_to_dict(population: PopulationPrior) -> dict:
    """Return a JSON-ready form of a learned prior (for storing it in the app's database)."""
    return {"key": population.key, "log_mean": [float(v) for v in population.log_mean],
            "log_sd": [float(v) for v in population.log_sd], "patients": population.patients,
            "informative": population.informative, "residual_log_sd": population.residual_log_sd,
            "iov_kill_sd": population.iov_kill_sd, "departure_share": population.departure_share,
            "cycle_iov": population.cycle_iov}


def population_from_dict(data: dict) -> PopulationPrior:
    """Return the learned prior stored by :func:`population_to_dict`."""
    return PopulationPrior(key=str(data["key"]), log_mean=np.asarray(data["log_mean"], float),
                           log_sd=np.asarray(data["log_sd"], float), patients=int(data["patients"]),
                           informative=int(data["informative"]),
                           residual_log_sd=_optional_float(data.get("residual_log_sd")),
                           iov_kill_sd=_optional_float(data.get("iov_kill_sd")),
                           departure_share=_optional_float(data.get("departure_share")),
                           cycle_iov=_optional_float(data.get("cycle_iov")))


def _optional_float(value: object) -> float | None:
    """Return a float, or None for a prior stored before this field existed."""
    return None if value is None else float(value)


def forecast_batch(histories: list[object], pooling: bool = True) -> list[dict]:
    """Forecast every history of a batch, learning regimen priors from the batch first.

    With ``pooling``, each regimen with at least MIN_PATIENTS histories in the batch gets a prior
    learned from all of them (the forecast then says so in ``warnings``); the others keep their
    literature or generic prior. A history that cannot be read gives ``{"id", "error"}``.
    """
    populations = learn_populations(histories) if pooling else {}
    results = []
    for history in histories:
        history_id = history.get("id") if isinstance(history, dict) else None
        try:
            results.append(forecast_history(history, populations.get(regimen_key(history))))
        except HistoryError as error:
            results.append({"id": history_id, "error": str(error)})
    return results

"""What if: the patient's posterior run through alternative plans for this cycle and the next.

Each scenario changes one thing in one cycle: pegfilgrastim on day 2 (or an on-body injector applied
on day 1), filgrastim on days 3-10, the dose at 80 % (or at the regimen's label step, ``DoseStep``),
or a one-week delay; "as planned" changes nothing. Every scenario is simulated from the same
posterior draws (and, for the next cycle, the same draw of that cycle's own sensitivity), so the
difference between two rows is the scenario's effect, not sampling noise: scenarios are paired. All
run in one vectorised simulation; each row of the current cycle also carries its curve (median and
80 % band) for the chart's overlay.

What a scenario cannot know: an infection, missed or extra doses, other drugs, a change in the
patient's condition. It is the model's answer for this patient's counts, advice for the clinician.
Pure: no Django, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .engine import Fit, _extras
from .gcsf import gcsf_plan
from .grid import GRADE4_BELOW, RANDOM_SEED, _measured_in_cycle
from .history import HOURS_PER_DAY
from .model import Occasion, Schedule, build_schedule, simulate
from .outlook import cycle_measures
from .summary import counts_shift, measured_facts

DELAY_H = 7 * HOURS_PER_DAY
# Every scenario changes the current cycle or a later one: up to 12 h before its day 1 (where the
# engine's occasion, the cycle's own sensitivity, starts) all share the same inputs.
SHARED_UNTIL_H = -12.0
REDUCED_DOSE = 0.8
# Enough paired draws for a band and a probability to two decimals; the fit keeps 400 (resampled,
# so in runs of copies: a stride spreads the subsample).
SCENARIO_DRAWS = 200
# The overlay's curves: a point every 12 h is smooth enough at a chart's width and keeps the page small.
CURVE_STEP_H = 12.0


@dataclass(frozen=True)
class Scenario:
    """One alternative plan: what changes in the cycle it applies to."""

    key: str
    label: str
    gcsf: str | None = None        # replaces the cycle's G-CSF: "none", "peg", "peg-onbody", "filgrastim"
    dose_factor: float = 1.0       # multiplies the cycle's planned dose fractions
    delay_h: float = 0.0           # moves the cycle's doses and G-CSF later


@dataclass(frozen=True)
class DoseStep:
    """A regimen's label dose-reduction step: the reduced dose in words and as a fraction of the full dose.

    E.g. docetaxel 75 mg/m2 -> 60 mg/m2: ``DoseStep(0.8, "60 mg/m²")``.
    """

    fraction: float
    dose: str

    @property
    def label(self) -> str:
        return f"Dose {self.dose} (label step, {self.fraction:.0%})".replace("%", " %")


SCENARIOS = (
    Scenario("as_planned", "As planned"),
    # An on-body injector applied on day 1 delivers about 27 h later: on the model's 6 h grid that is
    # the same step as a day-2 injection, so one row answers both.
    Scenario("peg_day2", "Pegfilgrastim day 2 (or on-body injector on day 1)", gcsf="peg"),
    Scenario("filgrastim", "Filgrastim days 3-10", gcsf="filgrastim"),
    Scenario("dose_80", "Dose at 80 %", dose_factor=REDUCED_DOSE),
    Scenario("delay_1w", "One-week delay", delay_h=DELAY_H),
)
CYCLES = ("current", "next")


def scenarios_for(dose_step: DoseStep | None = None) -> tuple[Scenario, ...]:
    """Return the scenarios, the reduced dose at the regimen's label step when it has one (else 80 %).

    The row keeps its key ("dose_80") whatever the step: the key names the kind of plan.
    """
    if dose_step is None:
        return SCENARIOS
    if not 0 < dose_step.fraction < 1:
        raise ValueError(f"a label dose step reduces the dose: {dose_step.fraction!r} is not between 0 and 1")
    return tuple(replace(s, label=dose_step.label, dose_factor=dose_step.fraction) if s.key == "dose_80" else s
                 for s in SCENARIOS)


def _cycle_gcsf(fit: Fit, start_h: float, length_h: float) -> tuple[list[float], list[str]]:
    """Return the plan's G-CSF within one cycle, as hours after that cycle's start."""
    plan = fit.plan
    pairs = [(t - start_h, p) for t, p in zip(plan.gcsf_hours, plan.gcsf_products, strict=True)
             if start_h - 12.0 <= t < start_h + length_h - 12.0]
    return [t for t, _ in pairs], [p for _, p in pairs]


def _inputs(fit: Fit, scenario: Scenario, cycle: str) -> tuple[list, list, list, list, float, list]:
    """Return doses, fractions, G-CSF times and products, the target cycle's start, and next-cycle dose marks.

    The current cycle keeps the plan the forecast assumed; the next one repeats the current cycle's
    chemo days, dose and G-CSF pattern, one cycle length later (or later still after a delay).
    """
    plan = fit.plan
    length_h = fit.history.regimen.cycle_length_days * HOURS_PER_DAY
    current = [(t, f) for t, f in zip(plan.dose_hours, plan.dose_fractions, strict=True) if t >= -12.0]
    earlier = [(t, f) for t, f in zip(plan.dose_hours, plan.dose_fractions, strict=True) if t < -12.0]
    gcsf_earlier = [(t, p) for t, p in zip(plan.gcsf_hours, plan.gcsf_products, strict=True) if t < -12.0]
    pattern_h, pattern_products = _cycle_gcsf(fit, 0.0, length_h)
    doses = list(current)
    gcsf = [(t, p) for t, p in zip(pattern_h, pattern_products, strict=True)]
    target_start, next_marks = 0.0, []
    if cycle == "next":
        next_start = length_h
        pattern = (pattern_h, pattern_products)
        if scenario.delay_h:
            next_start += scenario.delay_h
        if scenario.gcsf is not None:
            pattern = gcsf_plan(scenario.gcsf, infusion_h=fit.prior.infusion_h)
        factor = scenario.dose_factor
        next_doses = [(next_start + t, f * factor) for t, f in current]
        next_marks = [True] * len(next_doses)
        doses = [*doses, *next_doses]
        gcsf = [*gcsf, *((next_start + t, p) for t, p in zip(*pattern, strict=True))]
        target_start = next_start
    else:
        if scenario.gcsf is not None:
            gcsf = list(zip(*gcsf_plan(scenario.gcsf, infusion_h=fit.prior.infusion_h), strict=True))
        doses = [(t + scenario.delay_h, f * scenario.dose_factor) for t, f in doses]
        gcsf = [(t + scenario.delay_h, p) for t, p in gcsf]
        target_start = scenario.delay_h
    marks = [False] * (len(earlier) + len(current)) + next_marks
    all_doses = [*earlier, *doses]
    all_gcsf = [*gcsf_earlier, *gcsf]
    return ([t for t, _ in all_doses], [f for _, f in all_doses], [t for t, _ in all_gcsf],
            [p for _, p in all_gcsf], target_start, marks)


def _schedule(fit: Fit, doses: list, fractions: list, gcsf_h: list, products: list, marks: list,
              end_h: float, first_h: float) -> tuple[Schedule, np.ndarray]:
    """Return the schedule and, apart, the drug input of the next cycle's doses (for its own sensitivity)."""
    prior = fit.prior
    kde = np.log(2) / prior.kde_half_life_h
    # A zero-dose anchor at the earliest moment keeps every scenario on the same grid.
    anchor = ([first_h], [0.0])
    marks_array = np.asarray(marks, bool)
    hours, fractions_array = np.asarray(doses, float), np.asarray(fractions, float)
    before = build_schedule([*anchor[0], *hours[~marks_array]], [*anchor[1], *fractions_array[~marks_array]],
                            prior.infusion_h, kde, gcsf_h, products, end_h)
    after = build_schedule([*anchor[0], *hours[marks_array]], [*anchor[1], *fractions_array[marks_array]],
                           prior.infusion_h, kde, [], [], end_h)
    return before, after.drug_integral


def scenario_forecasts(fit: Fit, threshold: float | None = None, draws: int = SCENARIO_DRAWS,
                       dose_step: DoseStep | None = None) -> dict:
    """Return every scenario for the current and the next cycle, paired on the same posterior draws.

    Each row (current cycle first, then the next, in ``SCENARIOS`` order): the scenario, the cycle,
    the predicted nadir with its 80 % band and day, P(grade 4), the expected days below 0.5 (DSN)
    and P(ANC >= threshold) on the cycle's own day 1 (after a delay, the delayed one) and on the
    following day 1; and, for the current cycle's rows (the chart's; None for the next cycle's),
    ``curve``: the ANC median and 80 % band over the cycle (hours from its start, every
    ``CURVE_STEP_H``; a delayed cycle's runs a week longer), for the chart's overlay. ``dose_step``:
    the regimen's label dose-reduction step, used by the reduced-dose row instead of 80 %.
    """
    if fit.plan is None:
        raise ValueError("the fit holds no plan to vary")
    regimen = fit.history.regimen
    threshold = regimen.next_cycle_anc if threshold is None else threshold
    length_h = regimen.cycle_length_days * HOURS_PER_DAY
    pick = np.arange(0, fit.log_params.shape[0], max(1, fit.log_params.shape[0] // draws))[:draws]
    params = _parameters(fit, pick)
    end_h = 2 * length_h + DELAY_H + HOURS_PER_DAY
    first_h = min([*fit.plan.dose_hours, *fit.plan.gcsf_hours, 0.0])
    runs = [(scenario, cycle) for cycle in CYCLES for scenario in scenarios_for(dose_step)]
    columns, next_drug, starts = [], [], []
    for scenario, cycle in runs:
        doses, fractions, gcsf_h, products, start_h, marks = _inputs(fit, scenario, cycle)
        schedule, drug_next = _schedule(fit, doses, fractions, gcsf_h, products, marks, end_h, first_h)
        columns.append(schedule)
        next_drug.append(drug_next)
        starts.append(start_h)
    combined = _combine(columns, next_drug, params, pick.size, fit)
    circ = _simulate_paired(params, columns[0], combined, len(runs), pick.size)
    _, measured = _measured_in_cycle(fit.history, length_h)
    if fit.consistent and measured.size:
        # The counts already measured in the cycle: the as-planned courses pass through them as the
        # header's forecast does (summary.counts_shift), and every scenario's course moves with its
        # draw's as-planned one, so a row differs from "as planned" by the scenario's effect alone.
        # A delay of this cycle moves its doses, and the departure the counts showed moves with them.
        shift = counts_shift(fit.history, combined.grid_h, circ[:, :pick.size], fit.residual_sd[pick], length_h)
        step_h = combined.grid_h[1] - combined.grid_h[0]
        for run, (scenario, cycle) in enumerate(runs):
            moved = int(round(scenario.delay_h / step_h)) if cycle == "current" else 0
            run_shift = np.vstack([np.zeros((moved, pick.size)), shift[:shift.shape[0] - moved]]) if moved else shift
            circ[:, run * pick.size:(run + 1) * pick.size] *= np.exp(run_shift)
    current_runs = sum(cycle == "current" for _, cycle in runs)   # they come first
    curves = _Curves(circ[:, :current_runs * pick.size], combined.grid_h, current_runs, pick.size,
                     length_h + DELAY_H)
    rows = []
    for index, ((scenario, cycle), start_h) in enumerate(zip(runs, starts, strict=True)):
        block = circ[:, index * pick.size:(index + 1) * pick.size]
        measures = cycle_measures(block, combined.grid_h, start_h, length_h)
        low, mid, high = np.quantile(measures.nadir, [0.1, 0.5, 0.9])
        p_grade4 = float(np.mean(measures.nadir < GRADE4_BELOW))
        if index == 0 and fit.consistent and measured.size:
            # As planned, this cycle's counts are facts, as in the header.
            low, mid, high, p_grade4 = measured_facts(low, mid, high, p_grade4, float(measured.min()))
        rows.append({"scenario": scenario.key, "label": scenario.label, "cycle": cycle,
                     "nadir": {"anc": _anc(mid), "interval80": [_anc(low), _anc(high)],
                               "day_of_cycle": round(float(np.median(measures.nadir_day)), 1)},
                     "p_grade4": round(p_grade4, 3),
                     "dsn_days": round(float(np.mean(measures.dsn_days)), 2),
                     "p_ready_day1": round(float(np.mean(measures.day1_anc >= threshold)), 3),
                     "p_ready_next_day1": round(float(np.mean(measures.next_day1_anc >= threshold)), 3),
                     "curve": curves.of(index, start_h + length_h) if cycle == "current" else None})
    return {"draws": int(pick.size), "threshold": threshold, "scenarios": rows}


class _Curves:
    """Every scenario's median and 80 % band over time, from one quantile call over all of them."""

    def __init__(self, circ: np.ndarray, grid_h: np.ndarray, runs: int, draws: int, until_h: float):
        step = max(1, int(round(CURVE_STEP_H / (grid_h[1] - grid_h[0]))))
        self.index = np.flatnonzero((grid_h >= -1e-9) & (grid_h <= until_h + 1e-9))[::step]
        self.hours = grid_h[self.index]
        bands = np.quantile(circ[self.index].reshape(self.index.size, runs, draws), [0.1, 0.5, 0.9], axis=2)
        self.bands = np.maximum(bands, 0.001)   # (3, points, runs)

    def of(self, run: int, to_h: float) -> dict:
        """Return run ``run``'s curve from the current cycle's start to ``to_h`` hours after it."""
        keep = self.hours <= to_h + 1e-9
        low, mid, high = (np.round(b[keep, run], 3).tolist() for b in self.bands)
        return {"hours": np.round(self.hours[keep], 2).tolist(), "anc": mid, "lo80": low, "hi80": high}


def _occasion(params: dict, tile: int) -> Occasion | None:
    if params["kill_factor"] is None:
        return None
    return Occasion(start_h=SHARED_UNTIL_H, kill_factor=np.tile(params["kill_factor"], tile),
                    mtt_factor=np.ones(tile * params["circ0"].size), damage=np.tile(params["damage"], tile))


def _simulate_paired(params: dict, planned: Schedule, combined: Schedule, tile: int, draws: int) -> np.ndarray:
    """Simulate every (scenario, draw) column; the history before the current cycle once for all.

    Up to the current cycle's start every scenario has the same inputs, so that part is simulated
    for the draws alone and its end state copied to each scenario's columns (for a patient in cycle
    6 it is most of the grid).
    """
    names = ("circ0", "mtt_h", "kill", "gamma", "gpot")
    shared = int(np.searchsorted(combined.grid_h, SHARED_UNTIL_H - 1e-9))
    if shared == 0:
        return simulate(*(np.tile(params[k], tile) for k in names), combined, occasion=_occasion(params, tile))
    before, state = simulate(*(params[k] for k in names), planned, n_steps=shared,
                             occasion=_occasion(params, 1), return_state=True)
    *arrays, peg_on_board = state
    initial = (*(np.tile(a, tile) for a in arrays), peg_on_board)
    circ = simulate(*(np.tile(params[k], tile) for k in names), combined, occasion=_occasion(params, tile),
                    initial=initial, start_step=shared)
    circ[:shared + 1] = np.tile(before[:shared + 1], (1, tile))
    return circ


def _parameters(fit: Fit, pick: np.ndarray) -> dict:
    """Return the picked draws' parameters; G-CSF potency from the prior when the fit had no G-CSF."""
    theta = np.exp(fit.log_params[pick])
    rng = np.random.default_rng(RANDOM_SEED + 3)
    if theta.shape[1] < 5:
        # No G-CSF in the history: its potency is unknown for this patient and comes from the prior,
        # the same draws for every scenario. Tails beyond 2 SD (a 20-fold effect) are clipped: there
        # the model's maturation speed-up outruns proliferation and a few draws dip below the plan,
        # an artefact of the tail, not a response any trial reports.
        gpot = np.exp(fit.log_mean[4] + fit.log_sd[4] * np.clip(rng.standard_normal(pick.size), -2, 2))
    else:
        gpot = theta[:, 4]
    kill_factor = damage = None
    if fit.extensions and fit.extra_z is not None:
        kill_factor, damage = _extras(fit.extra_z[pick], fit.iov_sd)
    return {"circ0": theta[:, 0], "mtt_h": theta[:, 1], "kill": theta[:, 2], "gamma": theta[:, 3], "gpot": gpot,
            "kill_factor": kill_factor, "damage": damage, "rng": rng}


def _combine(columns: list[Schedule], next_drug: list[np.ndarray], params: dict, draws: int,
             fit: Fit) -> Schedule:
    """Stack the scenarios' schedules into one with a column per (scenario, draw).

    The next cycle has its own sensitivity (cycle-to-cycle variability), one draw per patient draw,
    shared by every next-cycle scenario: its doses' input is scaled by that draw over the current
    cycle's (the occasion applies the current cycle's factor to everything after its start).
    """
    kill_next = None
    if params["kill_factor"] is not None:
        z = params["rng"].standard_normal((draws, 2))
        own, _ = _extras(np.column_stack([z[:, 0], np.zeros(draws)]), fit.iov_sd)
        kill_next = own / params["kill_factor"]
    drug = np.concatenate([np.repeat(c.drug_integral[:, None], draws, axis=1)
                           + (d[:, None] * (kill_next if kill_next is not None else 1.0))
                           for c, d in zip(columns, next_drug, strict=True)], axis=1)
    filgrastim = np.concatenate([np.repeat(c.filgrastim_mean[:, None], draws, axis=1) for c in columns], axis=1)
    peg = np.concatenate([np.repeat(c.peg_doses[:, None], draws, axis=1) for c in columns], axis=1)
    return replace(columns[0], drug_integral=drug, filgrastim_mean=filgrastim, peg_doses=peg)


def _anc(value: float) -> float:
    return float(f"{max(float(value), 0.001):.3g}")

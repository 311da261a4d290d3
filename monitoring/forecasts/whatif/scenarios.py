"""A patient's what-if scenarios for the current cycle and the next, from everything known now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from monitoring import selectors
from monitoring.cycle_calendar import day_of_cycle
from monitoring.forecasting import HistoryError, population_from_dict
from monitoring.forecasting.engine import fit_history
from monitoring.forecasting.scenarios import DELAY_H, DoseStep, scenario_forecasts
from monitoring.models import Cycle, LearnedPrior, Regimen

REDUCED_AGAIN = "Dose at 80 % of the reduced plan"


@dataclass(frozen=True)
class ScenarioRow:
    """One scenario of one cycle, with the cycle's window for display and FHIR."""

    key: str
    label: str
    cycle: str              # "current" or "next"
    cycle_number: int
    window_start: datetime  # the cycle's day 1 under this scenario (after a delay, the delayed one)
    window_end: datetime
    nadir_anc: float
    nadir_lo80: float
    nadir_hi80: float
    nadir_day: float
    p_grade4: float
    dsn_days: float
    p_ready_day1: float
    p_ready_next_day1: float
    curve: dict | None      # this cycle only: hours from its day 1, ANC median and 80 % band (for the chart)

    @property
    def nadir_cycle_day(self) -> int:
        """Return the nadir's day of cycle as the ward, the header and the exports count it (calendar days in
        clinic time, monitoring/cycle_calendar.py), not the engine's fractional day (8.6 after a 14:00 dose is
        day 9)."""
        moment = self.window_start + timedelta(days=self.nadir_day - 1)
        return day_of_cycle(moment, self.window_start, timezone.get_current_timezone())


@dataclass(frozen=True)
class CycleScenarios:
    """Every scenario of a cycle and the next, made at ``as_of`` from ``draws`` paired posterior draws."""

    cycle: Cycle
    as_of: datetime
    draws: int
    threshold: float
    rows: list[ScenarioRow]
    history: dict

    @property
    def current_rows(self) -> list[ScenarioRow]:
        return [row for row in self.rows if row.cycle == "current"]

    @property
    def next_rows(self) -> list[ScenarioRow]:
        return [row for row in self.rows if row.cycle == "next"]


def dose_step_of(regimen: Regimen) -> DoseStep | None:
    """Return the regimen's label dose-reduction step (migration 0025 names the sources), or None."""
    if regimen.label_dose_step is None or not regimen.label_dose_step_dose:
        return None
    return DoseStep(float(regimen.label_dose_step), regimen.label_dose_step_dose)


def cycle_scenarios(cycle: Cycle, now: datetime) -> CycleScenarios | None:
    """Return the scenarios of ``cycle`` and the next from the inputs known at ``now``, or None.

    None when the history cannot be read (the cycle's forecast then says why).
    """
    regimen = cycle.course.regimen
    history = selectors.forecast_history(cycle, as_of=now)
    try:
        learned = regimen.learned_prior.parameters
    except LearnedPrior.DoesNotExist:
        learned = None
    try:
        fit = fit_history(history, population_from_dict(learned) if learned else None)
    except HistoryError:
        return None
    # The reduced-dose row scales what is planned: once the plan is already reduced (a what-if
    # applied, or a cycle given at a lower dose), the label step's name would no longer be true.
    reduced = cycle.planned_dose_fraction < 1 or any(a.dose_fraction < 1 for a in cycle.administrations.all())
    result = scenario_forecasts(fit, dose_step=None if reduced else dose_step_of(regimen))
    length = timedelta(days=regimen.cycle_length_days)
    rows = []
    for row in result["scenarios"]:
        start = cycle.day1 + (length if row["cycle"] == "next" else timedelta(0))
        if row["scenario"] == "delay_1w":
            start += timedelta(hours=DELAY_H)
        low, high = row["nadir"]["interval80"]
        label = REDUCED_AGAIN if reduced and row["scenario"] == "dose_80" else row["label"]
        rows.append(ScenarioRow(
            key=row["scenario"], label=label, cycle=row["cycle"],
            cycle_number=cycle.number + (1 if row["cycle"] == "next" else 0),
            window_start=start, window_end=start + length, nadir_anc=row["nadir"]["anc"], nadir_lo80=low,
            nadir_hi80=high, nadir_day=row["nadir"]["day_of_cycle"], p_grade4=row["p_grade4"],
            dsn_days=row["dsn_days"], p_ready_day1=row["p_ready_day1"], p_ready_next_day1=row["p_ready_next_day1"],
            curve=row["curve"]))
    return CycleScenarios(cycle=cycle, as_of=now, draws=result["draws"], threshold=result["threshold"],
                          rows=rows, history=history)

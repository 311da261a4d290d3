"""The patient page: the patient's courses split into cycles with the inputs that fall in each (8 queries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch

from monitoring import clinical
from monitoring.alerts.presentation import alert_order
from monitoring.models import (
    Alert,
    AlertEvent,
    ChemoAdministration,
    CountResult,
    Cycle,
    Forecast,
    GcsfDose,
    Patient,
    Regimen,
    TemperatureReading,
    TreatmentCourse,
)
from monitoring.selectors.alerts import attach_events
from monitoring.selectors.cycles import current_cycle
from monitoring.selectors.freshness import forecast_state


@dataclass
class CycleData:
    """One cycle with the inputs that fall in it: what a cycle chart and a summary row show."""

    cycle: Cycle
    regimen: Regimen
    start: datetime
    end: datetime | None  # the next cycle's day 1; None for the last one
    administrations: list[ChemoAdministration]
    counts: list[CountResult]
    gcsf: list[GcsfDose]
    temperatures: list[TemperatureReading]
    forecast: Forecast | None
    is_current: bool = False
    # The pre-dose count (the last one in the 72 h before day 1): this cycle's baseline, charted at
    # its start rather than as day 21.9 of the cycle before.
    baseline: list[CountResult] = field(default_factory=list)
    next_baseline: list[CountResult] = field(default_factory=list)

    @property
    def charted_counts(self) -> list[CountResult]:
        """Return the baseline and the counts of the cycle, without the next cycle's baseline."""
        moved = {c.pk for c in self.next_baseline}
        return self.baseline + [c for c in self.counts if c.pk not in moved]

    @property
    def forecast_state(self) -> str:
        """Return "stale", "pending" or "" (see selectors.freshness)."""
        return forecast_state(self.cycle, self.forecast)

    @property
    def started(self) -> bool:
        return self.cycle.status == Cycle.Status.GIVEN or bool(self.administrations)

    @property
    def observed_nadir(self) -> CountResult | None:
        after_dose = [c for c in self.counts if c.collected_at >= self.start]
        return min(after_dose, key=lambda c: (c.anc_1e9_per_l, c.collected_at)) if after_dose else None

    @property
    def worst_grade(self) -> int | None:
        return max((c.ctcae_grade for c in self.counts), default=None)

    @property
    def fever_episodes(self) -> list[TemperatureReading]:
        """Return the reading that made each fever episode (IDSA 2010 definition)."""
        episodes, run = [], []
        for reading in self.temperatures + [None]:
            if reading is not None and reading.temperature_c >= clinical.FEVER_SUSTAINED_C:
                run.append(reading)
                continue
            points = [clinical.TemperaturePoint(r.taken_at, r.temperature_c) for r in run]
            hit = clinical.fever_episode(points)
            if hit is not None:
                episodes.append(next(r for r in run if r.taken_at == hit.taken_at))
            run = []
        return episodes


@dataclass
class PatientPage:
    patient: Patient
    courses: list[TreatmentCourse]
    cycles: list[CycleData]
    current: CycleData | None
    counts: list[CountResult]
    gcsf: list[GcsfDose]
    temperatures: list[TemperatureReading]
    open_alerts: list[Alert]
    past_alerts: list[Alert]

    @property
    def last_count(self) -> CountResult | None:
        return self.counts[-1] if self.counts else None

    @property
    def charted_cycles(self) -> list[CycleData]:
        """Return the cycles that have started, plus the current one: newest first."""
        shown = [c for c in self.cycles if c.started or c.is_current]
        return sorted(shown, key=lambda c: c.start, reverse=True)


def patient_page(patient: Patient, now: datetime) -> PatientPage:
    """Return everything the patient page, its charts and the CSV export show (8 queries)."""
    courses = list(
        patient.courses.select_related("regimen").prefetch_related(
            Prefetch(
                "cycles",
                queryset=Cycle.objects.select_related("forecast").prefetch_related(
                    Prefetch("administrations", queryset=ChemoAdministration.objects.order_by("given_at"))
                ),
            )
        )
    )
    # Two results collected at the same moment: the one received last is the latest, as on the ward.
    counts = list(patient.counts.order_by("collected_at", "pk"))
    gcsf = list(patient.gcsf_doses.order_by("given_at"))
    temperatures = list(patient.temperatures.order_by("taken_at"))
    alerts = sorted(
        Alert.objects.filter(patient=patient).select_related("cycle", "acknowledged_by"), key=alert_order
    )
    attach_events(alerts, AlertEvent.objects.filter(alert__patient=patient))
    current = current_cycle(patient, now, courses=courses)
    cycles = _cycles_with_inputs(courses, counts, gcsf, temperatures, current)
    return PatientPage(
        patient=patient,
        courses=courses,
        cycles=cycles,
        current=next((c for c in cycles if c.is_current), None),
        counts=counts,
        gcsf=gcsf,
        temperatures=temperatures,
        # Live alerts, acknowledged ("in hand") or not, while their condition lasts (issue 21).
        open_alerts=[a for a in alerts if a.resolved_at is None],
        past_alerts=sorted((a for a in alerts if a.resolved_at is not None), key=_alert_closed_at, reverse=True),
    )


def _alert_closed_at(alert: Alert) -> datetime:
    return alert.acknowledged_at or alert.resolved_at or alert.raised_at


def _cycles_with_inputs(courses, counts, gcsf, temperatures, current: Cycle | None) -> list[CycleData]:
    """Split the patient's inputs into cycles: each runs from its day 1 to the next cycle's."""
    ordered = sorted(
        ((course, cycle) for course in courses for cycle in course.cycles.all()
         if cycle.status != Cycle.Status.CANCELLED),
        key=lambda pair: pair[1].day1,
    )
    result = []
    for index, (course, cycle) in enumerate(ordered):
        start = cycle.day1
        end = ordered[index + 1][1].day1 if index + 1 < len(ordered) else None

        def inside(moment: datetime, start=start, end=end) -> bool:
            return start <= moment and (end is None or moment < end)

        forecast = getattr(cycle, "forecast", None)
        result.append(CycleData(
            cycle=cycle,
            regimen=course.regimen,
            start=start,
            end=end,
            administrations=list(cycle.administrations.all()),
            counts=[c for c in counts if inside(c.collected_at)],
            gcsf=[g for g in gcsf if inside(g.given_at)],
            temperatures=[t for t in temperatures if inside(t.taken_at)],
            forecast=forecast,
            is_current=current is not None and cycle.pk == current.pk,
            baseline=[c for c in counts if start - clinical.PRE_DOSE_COUNT_WINDOW <= c.collected_at < start][-1:],
        ))
    for earlier, later in zip(result, result[1:]):
        earlier.next_baseline = later.baseline
    return result


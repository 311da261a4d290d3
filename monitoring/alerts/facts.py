"""The facts the alert rules read: a patient's results (one query for many patients), a cycle's
facts at a moment, and the facts of results that no active cycle grades."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Cast
from django.utils import timezone

from monitoring import clinical
from monitoring.alerts import rules
from monitoring.alerts.state import PatientAlerts
from monitoring.clinic_time import from_local_iso
from monitoring.models import ChemoAdministration, CountResult, Cycle, Forecast, GcsfDose, Patient, TemperatureReading
from monitoring.models.care import current_cycle_of, gcsf_decision_of, grading_cycle_of, patient_cycles


def post_chemo_fever_window() -> timedelta:
    """Return how long after a chemotherapy dose a fever is a possible neutropenic sepsis (the setting)."""
    return timedelta(days=settings.NEUTROWATCH["POST_CHEMO_FEVER_WINDOW_DAYS"])


def chemo_times_lookback() -> timedelta:
    """Return how far back chemotherapy doses are loaded: for G-CSF timing (14 days + 24 h, with margin)
    and for the post-chemotherapy fever window."""
    return max(timedelta(days=30), post_chemo_fever_window())


def on_chemotherapy(chemo: list[tuple[int, rules.ChemoPoint]], now: datetime) -> bool:
    """Return True if the last chemotherapy dose is within the post-chemotherapy fever window.

    One answer for every caller (a cycle of an active course, or a patient whose course has ended).
    """
    last = max((dose.given_at for _, dose in chemo if dose.given_at <= now), default=None)
    return last is not None and now - last <= post_chemo_fever_window()


def active_cycles(patient_ids: list[int], cycles: dict[int, list[Cycle]] | None = None) -> dict[int, list[Cycle]]:
    """Return each patient's cycles of active courses, cancelled ones left out (one query, none if
    `cycles`, as patient_cycles returns them, are given)."""
    if cycles is None:
        cycles = patient_cycles(patient_ids)
    return {patient_id: [c for c in of_patient if c.course.active] for patient_id, of_patient in cycles.items()}


@dataclass
class PatientResults:
    """A patient's results the rules look at, loaded for many patients at once (load_results)."""

    counts: list[rules.CountPoint] = field(default_factory=list)
    temperatures: list[clinical.TemperaturePoint] = field(default_factory=list)
    gcsf: list[rules.GcsfPoint] = field(default_factory=list)
    chemo: list[tuple[int, rules.ChemoPoint]] = field(default_factory=list)  # (cycle id, dose)
    fn_cycle_ids: set[int] = field(default_factory=set)  # cycles with a febrile-neutropenia alert
    alerts: PatientAlerts | None = None  # the patients' alerts (hysteresis reads them)


def load_results(patient_ids: list[int], since: datetime, now: datetime, *,
                 alerts: PatientAlerts | None = None) -> dict[int, PatientResults]:
    """Return every patient's results from `since` (counts) up to now, in two queries (one if the
    patients' `alerts` are given)."""
    results = load_measurements(patient_ids, since, now)
    alerts = alerts or PatientAlerts.load(patient_ids)
    fn_cycle_ids = alerts.fn_cycle_ids
    for patient_id in patient_ids:
        results[patient_id].fn_cycle_ids = fn_cycle_ids.get(patient_id, set())
        results[patient_id].alerts = alerts
    return results


# The kinds of row load_measurements reads, in the first column of its query.
_COUNT, _TEMPERATURE, _GCSF, _CHEMO = "count", "temperature", "gcsf", "chemo"


def load_measurements(patient_ids: list[int], since: datetime, now: datetime) -> dict[int, PatientResults]:
    """Return every patient's counts from `since`, temperatures, G-CSF and chemotherapy up to now.

    One query (a UNION ALL of the four tables, each row tagged with its kind) instead of four:
    the save path runs it for every result saved. `fn_cycle_ids` is left empty. A chemotherapy
    row carries its regimen's continuous infusion (hours) in the value column.
    """
    text, decimal, key = models.CharField(), models.DecimalField(max_digits=9, decimal_places=3), models.IntegerField()

    moment = models.DateTimeField()

    def tagged(kind: str, rows, patient: str, at: str, value=None, product=None, cycle=None, second=None,
               entered=None):
        # Every column an expression, so that each query selects them in this order; typed NULLs,
        # so that PostgreSQL matches each column's type across the four.
        return rows.order_by().values_list(
            models.Value(kind, output_field=text), F(patient), F("pk"), F(at),
            Cast(None, output_field=decimal) if value is None else F(value) if isinstance(value, str) else value,
            F(product) if product else models.Value("", output_field=text),
            (F(cycle) if isinstance(cycle, str) else cycle) if cycle is not None else Cast(None, output_field=key),
            Cast(F(second), output_field=decimal) if second else Cast(None, output_field=decimal),
            F(entered) if entered else Cast(None, output_field=moment))

    counts = tagged(_COUNT, CountResult.objects.filter(
        patient_id__in=patient_ids, collected_at__gte=since, collected_at__lte=now),
        "patient_id", "collected_at", value="anc_1e9_per_l", product="qualifier", second="platelets_1e9_per_l")
    # The last day's readings, and the fevers entered in the last day that were taken before it (a
    # fever entered late: rules/late_fever.py), back to the post-chemotherapy fever window.
    entered_late = models.Q(entered_at__gte=now - clinical.LATE_FEVER_ALERT_FOR,
                            temperature_c__gte=clinical.FEVER_SUSTAINED_C,
                            taken_at__gte=now - post_chemo_fever_window())
    temperatures = tagged(_TEMPERATURE, TemperatureReading.objects.filter(
        models.Q(taken_at__gte=now - clinical.FN_FEVER_LOOKBACK) | entered_late,
        patient_id__in=patient_ids, taken_at__lte=now),
        "patient_id", "taken_at", value="temperature_c", entered="entered_at")
    # An on-body injector's route rides in the cycle column (1): the rules judge it on its delivery time.
    on_body = models.Case(models.When(route=GcsfDose.Route.OBI, then=models.Value(1)), default=models.Value(0),
                          output_field=key)
    doses = tagged(_GCSF, GcsfDose.objects.filter(
        patient_id__in=patient_ids, given_at__gte=min(since, now - clinical.GCSF_TIMING_LOOKBACK), given_at__lte=now),
        "patient_id", "given_at", product="product", cycle=on_body)
    chemo = tagged(_CHEMO, ChemoAdministration.objects.filter(
        cycle__course__patient_id__in=patient_ids, given_at__gte=min(since, now - chemo_times_lookback()),
        given_at__lte=now), "cycle__course__patient_id", "given_at",
        value=Cast("cycle__course__regimen__infusion_hours", output_field=decimal), cycle="cycle_id")
    rows = counts.union(temperatures, doses, chemo, all=True)
    results: dict[int, PatientResults] = defaultdict(PatientResults)
    for kind, patient_id, pk, at, value, product, cycle_id, second, entered in sorted(
            rows, key=lambda row: (row[3], row[2])):
        patient = results[patient_id]
        if kind == _COUNT:
            platelets = _stored(second, _ANC_PLACES) if second is not None else None
            patient.counts.append(rules.CountPoint(at, _stored(value, _ANC_PLACES), pk, platelets, product))
        elif kind == _TEMPERATURE:
            patient.temperatures.append(clinical.TemperaturePoint(at, _stored(value, _CELSIUS_PLACES), entered, pk))
        elif kind == _GCSF:
            patient.gcsf.append(rules.GcsfPoint(at, product, pk, on_body_injector=bool(cycle_id)))
        else:
            patient.chemo.append((cycle_id, rules.ChemoPoint(at, int(value))))
    _readings_after_late_fevers(results, now)
    return results


def _readings_after_late_fevers(results: dict[int, PatientResults], now: datetime) -> None:
    """Add the readings taken between a late-entered fever and the last day (a normal one makes it historical).

    One more query, only when a patient has a fever entered late (rare): the save path's usual
    queries are unchanged.
    """
    lookback = now - clinical.FN_FEVER_LOOKBACK
    earliest = {patient_id: min(t.taken_at for t in late) for patient_id, patient in results.items()
                if (late := [t for t in patient.temperatures if t.taken_at < lookback])}
    if not earliest:
        return
    rows = TemperatureReading.objects.filter(patient_id__in=earliest, taken_at__gte=min(earliest.values()),
                                             taken_at__lt=lookback).exclude(
        pk__in=[t.reading_id for patient_id in earliest for t in results[patient_id].temperatures])
    for reading in rows.order_by("taken_at", "pk"):
        if reading.taken_at > earliest[reading.patient_id]:
            results[reading.patient_id].temperatures.append(clinical.TemperaturePoint(
                reading.taken_at, reading.temperature_c, reading.entered_at, reading.pk))
    for patient_id in earliest:
        results[patient_id].temperatures.sort(key=lambda t: (t.taken_at, t.reading_id or 0))


_ANC_PLACES = CountResult._meta.get_field("anc_1e9_per_l").decimal_places
_CELSIUS_PLACES = TemperatureReading._meta.get_field("temperature_c").decimal_places


def _stored(value, places: int) -> Decimal:
    """Return a decimal as its column stores it: a UNION's column has one type (SQLite gives floats)."""
    return Decimal(value).quantize(Decimal(1).scaleb(-places))


def cycle_facts(cycle: Cycle, forecast: Forecast | None, now: datetime, *,
                results: PatientResults | None = None, cycles: list[Cycle] | None = None) -> rules.CycleFacts:
    """Gather what the rules need about `cycle` at `now`.

    `results` and `cycles` (the patient's active cycles) are loaded here unless given.
    """
    course, patient = cycle.course, cycle.course.patient
    regimen = course.regimen
    day1 = cycle.day1
    counts_from = min(day1 - clinical.PRE_DOSE_COUNT_WINDOW, now - clinical.KNOWN_ANC_WITHIN)
    if cycles is None:
        cycles = active_cycles([patient.pk]).get(patient.pk, [])
    if results is None:
        results = load_results([patient.pk], counts_from, now)[patient.pk]
    next_cycle = _next_cycle(cycle, cycles)
    # Over only when the next cycle was given: a planned day 1 passing while chemotherapy was
    # not given ends nothing (the cycle waits, and so do its alerts).
    over = (
        not (course.active and patient.active)
        or cycle.status == Cycle.Status.CANCELLED
        or (next_cycle is not None and next_cycle.actual_day1 is not None and next_cycle.actual_day1 <= now)
    )
    current = current_cycle_of(cycles, now)
    chemo_from = min(day1, now - chemo_times_lookback())
    chemo = [(cycle_id, dose) for cycle_id, dose in results.chemo if dose.given_at >= chemo_from]
    live_kinds, last_cleared = results.alerts.memory(patient.pk, cycle.pk) if results.alerts else (frozenset(), {})
    return rules.CycleFacts(
        now=now,
        clinic_tz=timezone.get_current_timezone(),
        cycle_number=cycle.number,
        day1=day1,
        chemo_given=cycle.actual_day1 is not None,
        cycle_over=over,
        next_day1=next_cycle.day1 if next_cycle is not None else None,
        fn_risk=regimen.fn_risk,
        nadir_window_days=(regimen.nadir_window_start_day, regimen.nadir_window_end_day),
        next_cycle_anc_1e9_per_l=regimen.next_cycle_anc_1e9_per_l,
        next_cycle_platelets_1e9_per_l=regimen.next_cycle_platelets_1e9_per_l,
        gcsf_risk_factors=tuple(patient.gcsf_risk_factors(timezone.localdate(now))),
        counts=tuple(c for c in results.counts if c.collected_at >= counts_from),
        temperatures=tuple(results.temperatures),
        gcsf_given_at=tuple(d.given_at for d in results.gcsf
                            if d.given_at >= day1 - clinical.GCSF_COUNTS_FROM_BEFORE_DAY1),
        forecast=_forecast_facts(forecast),
        is_current=current is not None and current.pk == cycle.pk,
        # The post-chemotherapy window, as for a course that has ended; a course with no cycle given yet
        # (its first dose may be recorded late, or have been given elsewhere) still counts: fail safe.
        on_chemotherapy=(on_chemotherapy(chemo, now)
                         or not any(c.actual_day1 for c in cycles if c.course_id == course.pk)),
        chemo_given_at=tuple(dose for cycle_id, dose in chemo if cycle_id == cycle.pk),
        chemo_times=tuple(dose for _, dose in chemo),
        gcsf_doses=tuple(d for d in results.gcsf if d.given_at >= now - clinical.GCSF_TIMING_LOOKBACK),
        prior_febrile_neutropenia=patient.prior_febrile_neutropenia or bool(results.fn_cycle_ids - {cycle.pk}),
        chemo_interval_days=clinical.chemo_interval_days(regimen.cycle_length_days, regimen.chemo_days),
        live_kinds=live_kinds,
        last_cleared=last_cleared,
        live_evidence=results.alerts.live_evidence(patient.pk, cycle.pk) if results.alerts else {},
        next_day1_given=next_cycle is not None and next_cycle.actual_day1 is not None,
        gcsf_decision=decision.get_decision_display() if (decision := gcsf_decision_of(course)) else "",
        planned_gcsf=cycle.get_planned_gcsf_display() if cycle.planned_gcsf else "",
    )


def _next_cycle(cycle: Cycle, cycles: list[Cycle]) -> Cycle | None:
    """Return the next cycle of the same course (cancelled ones left out)."""
    if cycle.course.active:  # `cycles` holds the active courses' cycles
        return next((c for c in cycles if c.course_id == cycle.course_id and c.number == cycle.number + 1), None)
    return (Cycle.objects.filter(course_id=cycle.course_id, number=cycle.number + 1)
            .exclude(status=Cycle.Status.CANCELLED).first())


def patient_facts(patient: Patient, cycles: list[Cycle], now: datetime, *,
                  results: PatientResults | None = None) -> rules.CycleFacts:
    """Gather the facts of a patient's results that no active cycle grades (the observed rules only).

    The patient counts as on chemotherapy (the NICE fever rule) for the post-chemotherapy fever
    window after their last dose (on_chemotherapy), whether its course has ended or not.
    """
    since = now - clinical.NO_CYCLE_COUNT_LOOKBACK
    if results is None:
        results = load_results([patient.pk], since, now)[patient.pk]
    return rules.CycleFacts(
        now=now, clinic_tz=timezone.get_current_timezone(), cycle_number=0, day1=None, chemo_given=False,
        cycle_over=False, next_day1=None, fn_risk="", nadir_window_days=(0, 0),
        next_cycle_anc_1e9_per_l=clinical.DEFAULT_NEXT_CYCLE_ANC,
        counts=tuple(c for c in results.counts
                     if c.collected_at >= since and grading_cycle_of(cycles, c.collected_at) is None),
        temperatures=tuple(results.temperatures),
        is_current=current_cycle_of(cycles, now) is None,
        on_chemotherapy=on_chemotherapy(results.chemo, now),
        chemo_times=tuple(dose for _, dose in results.chemo if dose.given_at >= now - chemo_times_lookback()),
        gcsf_doses=tuple(d for d in results.gcsf if d.given_at >= now - clinical.GCSF_TIMING_LOOKBACK),
    )


def _forecast_facts(forecast: Forecast | None) -> rules.ForecastFacts | None:
    if forecast is None or forecast.error:
        return None
    trajectory = tuple(
        rules.TrajectoryPoint(from_local_iso(p["time"]), p["anc"], p["lo80"], p["hi80"])
        for p in forecast.trajectory
    )
    return rules.ForecastFacts(
        nadir_anc_1e9_per_l=forecast.nadir_anc_1e9_per_l,
        nadir_lo80=forecast.nadir_lo80,
        nadir_hi80=forecast.nadir_hi80,
        nadir_at=forecast.nadir_at,
        p_grade4=forecast.p_grade4,
        p_ready=forecast.p_ready,
        trajectory=trajectory,
        next_fbc_on=forecast.next_fbc_on,
    )

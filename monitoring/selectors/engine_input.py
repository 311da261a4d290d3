"""What the forecast engine is given: a cycle's history as of a moment, cycles to learn from, stale cycles."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from monitoring import clinical
from monitoring.forecasting.gcsf import gcsf_plan
from monitoring.models import ChemoAdministration, CountResult, Cycle, GcsfDose, Regimen


def _local_iso(moment: datetime) -> str:
    """Return a clinic-local ISO time without zone, as the forecast engine takes it."""
    return timezone.localtime(moment).replace(tzinfo=None).isoformat(timespec="minutes")


def from_local_iso(text: str) -> datetime:
    """Return an aware datetime from the engine's clinic-local ISO time."""
    return timezone.make_aware(datetime.fromisoformat(text))


def forecast_history(cycle: Cycle, as_of: datetime) -> dict:
    """Return the engine's input for `cycle` from everything known at `as_of`.

    It holds every chemotherapy administration of the course given by `as_of`, the
    cycle's own day-1 dose (planned if not yet given: the forecast answers "if given as
    planned", at the cycle's planned dose), its later planned chemo days, every G-CSF dose and
    count of the patient, and the cycle's planned G-CSF while none is recorded in the cycle.
    """
    regimen = cycle.course.regimen
    patient_id = cycle.course.patient_id
    administrations = list(
        ChemoAdministration.objects.filter(cycle__course=cycle.course, given_at__lte=as_of)
        .exclude(cycle__number__gt=cycle.number)
        .order_by("given_at")
    )
    doses = [{"time": _local_iso(a.given_at), "dose_fraction": float(a.dose_fraction)} for a in administrations]
    recorded_days = {a.day_of_cycle for a in administrations if a.cycle_id == cycle.pk}
    for day in regimen.chemo_days or [1]:
        if day not in recorded_days:
            planned = cycle.day1 + timedelta(days=day - 1)
            doses.append({"time": _local_iso(planned), "dose_fraction": float(cycle.planned_dose_fraction)})
    doses.sort(key=lambda d: d["time"])
    gcsf = [
        {"time": _local_iso(g.given_at), "product": g.product}
        for g in GcsfDose.objects.filter(patient_id=patient_id, given_at__lte=as_of).order_by("given_at")
    ]
    gcsf += _planned_gcsf(cycle, as_of)
    gcsf.sort(key=lambda g: g["time"])
    counts = [
        {"time": _local_iso(c.collected_at), "anc": float(c.anc_1e9_per_l), "unit": "10^9/L"}
        for c in CountResult.objects.filter(patient_id=patient_id, collected_at__lte=as_of)
        .order_by("collected_at", "pk")
    ]
    return {
        "id": f"cycle-{cycle.pk}",
        "regimen": {
            "code": regimen.code,
            "name": regimen.name,
            "cycle_length_days": regimen.cycle_length_days,
            "fn_risk": regimen.fn_risk,
            "chemo_days": list(regimen.chemo_days or [1]),
            "next_cycle_anc": float(regimen.next_cycle_anc_1e9_per_l),
        },
        "doses": doses,
        "gcsf": gcsf,
        "counts": counts,
        "forecast_cycle_start": _local_iso(cycle.day1),
        "as_of": _local_iso(as_of),
    }


def planned_gcsf_due(cycle: Cycle) -> datetime:
    """Return when a cycle's planned G-CSF is overdue if none is recorded: the "G-CSF not given" rule's time.

    72 h after the day-1 dose ends (clinical.GCSF_DUE_AFTER_CHEMO: the end of the labels' window).
    """
    return cycle.day1 + timedelta(hours=float(cycle.course.regimen.infusion_hours)) + clinical.GCSF_DUE_AFTER_CHEMO


def _gcsf_recorded(cycle: Cycle, as_of: datetime) -> bool:
    return GcsfDose.objects.filter(patient_id=cycle.course.patient_id, given_at__lte=as_of,
                                   given_at__gte=cycle.day1 - clinical.GCSF_COUNTS_FROM_BEFORE_DAY1,
                                   given_at__lt=cycle.planned_next_day1).exists()


def _planned_gcsf(cycle: Cycle, as_of: datetime) -> list[dict]:
    """Return the cycle's planned G-CSF doses (what-if applied), unless a G-CSF dose is recorded in the cycle.

    Fail safe: once the plan is overdue with no dose recorded, the forecast no longer assumes it (a plan
    nobody carried out must not keep the forecast optimistic); the "G-CSF not given" alert says so.
    """
    if not cycle.planned_gcsf or as_of > planned_gcsf_due(cycle) or _gcsf_recorded(cycle, as_of):
        return []
    regimen = cycle.course.regimen
    hours, products = gcsf_plan(cycle.planned_gcsf, infusion_h=float(regimen.infusion_hours))
    return [{"time": _local_iso(cycle.day1 + timedelta(hours=h)), "product": product}
            for h, product in zip(hours, products, strict=True)]


def learning_cycles(regimen: Regimen, now: datetime) -> list[Cycle]:
    """Return, for every course on `regimen`, its latest cycle started by `now` (for prior learning)."""
    cycles = (
        Cycle.objects.filter(course__regimen=regimen)
        .exclude(status=Cycle.Status.CANCELLED)
        .select_related("course__regimen")
        .order_by("course_id", "number")
    )
    latest: dict[int, Cycle] = {}
    for cycle in cycles:
        if cycle.day1 <= now:
            latest[cycle.course_id] = cycle
    return list(latest.values())


def lapsed_gcsf_plan_cycle_ids(now: datetime) -> list[int]:
    """Return cycles whose forecast still assumes a planned G-CSF that is now overdue with none recorded."""
    candidates = (Cycle.objects.filter(course__active=True, course__patient__active=True, forecast__isnull=False)
                  .exclude(planned_gcsf="").exclude(status=Cycle.Status.CANCELLED)
                  .filter(planned_day1__gte=now - timedelta(days=60))
                  .select_related("course__regimen", "forecast"))
    return [cycle.pk for cycle in candidates
            if cycle.forecast.as_of <= planned_gcsf_due(cycle) < now and not _gcsf_recorded(cycle, now)]


def stale_cycle_ids(limit: int = 1000) -> list[int]:
    """Return cycles whose forecast is missing or older than their inputs, oldest first."""
    from django.db.models import F, Q

    return list(
        Cycle.objects.filter(course__active=True, course__patient__active=True)
        .exclude(status=Cycle.Status.CANCELLED)
        .filter(Q(forecast__isnull=True, input_version__gt=0) | Q(forecast__input_version__lt=F("input_version")))
        .order_by("planned_day1")
        .values_list("pk", flat=True)[:limit]
    )


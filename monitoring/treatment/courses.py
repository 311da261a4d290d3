"""Courses and cycles: start a course, give, delay or add chemotherapy days to a cycle, and the
concerns a nurse must answer before recording a cycle as given."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring import clinical
from monitoring.alerts import evaluate
from monitoring.forecasts.inputs import mark_inputs_changed
from monitoring.models import (
    Alert,
    ChemoAdministration,
    CountResult,
    Cycle,
    GcsfDecision,
    GcsfDose,
    Patient,
    TreatmentCourse,
)


def start_course(patient: Patient, regimen, first_day1: datetime, n_cycles: int) -> TreatmentCourse:
    """Create a course with `n_cycles` planned cycles, one cycle length apart.

    Every row written is in the history: the previous course is ended by save() and the
    cycles are created with their historical rows (never a bare update() or bulk_create()).
    """
    with transaction.atomic():
        for previous in TreatmentCourse.objects.filter(patient=patient, active=True):
            previous.active = False
            previous.save(update_fields=["active"])
        course = TreatmentCourse.objects.create(patient=patient, regimen=regimen, started_on=first_day1.date())
        planned = [first_day1 + timedelta(days=n * regimen.cycle_length_days) for n in range(n_cycles)]
        # With history rows, so that later changes (given, delayed, an override reason) show as changes.
        bulk_create_with_history(
            [Cycle(course=course, number=n, planned_day1=day1, original_planned_day1=day1)
             for n, day1 in enumerate(planned, start=1)],
            Cycle,
        )
        mark_inputs_changed(course.cycles.values_list("pk", flat=True)[:1])
        evaluate.evaluate_observed({patient.pk: [first_day1]}, timezone.now())
    return course


def give_cycle_concerns(cycle: Cycle, given_at: datetime) -> list[str]:
    """Return, in words, why recording `cycle` as given at `given_at` may be unsafe (empty if none).

    The "Record given" form asks for an override reason while any of these hold: the last
    pre-dose ANC (or platelet count) is below the regimen's threshold, there is no count in the 72 h before day 1,
    a critical alert of the patient is open, or the previous cycle's length has not passed.
    """

    regimen, patient_id = cycle.course.regimen, cycle.course.patient_id
    concerns = []
    pre_dose = (
        CountResult.objects.filter(patient_id=patient_id, collected_at__lte=given_at,
                                   collected_at__gte=given_at - clinical.PRE_DOSE_COUNT_WINDOW)
        .order_by("-collected_at", "-pk").first()
    )
    threshold = regimen.next_cycle_anc_1e9_per_l
    if pre_dose is None:
        hours = int(clinical.PRE_DOSE_COUNT_WINDOW.total_seconds() // 3600)
        concerns.append(f"No blood count in the {hours} h before this day 1.")
    elif pre_dose.anc_1e9_per_l < threshold:
        concerns.append(f"The last pre-dose ANC, {pre_dose.anc_display} x10^9/L on "
                        f"{_local(pre_dose.collected_at)}, is below the regimen threshold of {threshold} x10^9/L.")
    platelets = (
        CountResult.objects.filter(patient_id=patient_id, collected_at__lte=given_at, platelets_1e9_per_l__isnull=False,
                                   collected_at__gte=given_at - clinical.PRE_DOSE_COUNT_WINDOW)
        .order_by("-collected_at", "-pk").first()
    )
    platelet_threshold = regimen.next_cycle_platelets_1e9_per_l
    if platelets is not None and platelets.platelets_1e9_per_l < platelet_threshold:
        concerns.append(f"The last pre-dose platelet count, {platelets.platelets_1e9_per_l.normalize():f} x10^9/L on "
                        f"{_local(platelets.collected_at)}, is below the regimen threshold of "
                        f"{platelet_threshold.normalize():f} x10^9/L.")
    concerns += _gcsf_concerns(cycle, given_at)
    for alert in (Alert.objects.filter(patient_id=patient_id, severity=Alert.Severity.CRITICAL,
                                       resolved_at__isnull=True).select_related("cycle").order_by("raised_at")):
        concerns.append(f"A critical alert is open: {alert.title} ({alert.which_words}).")
    previous = (
        Cycle.objects.filter(course_id=cycle.course_id, number__lt=cycle.number, actual_day1__isnull=False)
        .order_by("-number").first()
    )
    if previous is not None:
        earliest = previous.actual_day1 + timedelta(days=regimen.cycle_length_days)
        if timezone.localdate(given_at) < timezone.localdate(earliest):
            concerns.append(f"Cycle {previous.number} was given on {_local(previous.actual_day1)}: a "
                            f"{regimen.cycle_length_days}-day cycle allows cycle {cycle.number} from "
                            f"{timezone.localtime(earliest):%a %d %b}.")
    return concerns


def _gcsf_concerns(cycle: Cycle, given_at: datetime) -> list[str]:
    """Return pegfilgrastim doses acting less than 14 days (12 every 2 weeks) before this day 1 (issue 21 item 8)."""
    regimen = cycle.course.regimen
    interval = clinical.chemo_interval_days(regimen.cycle_length_days, regimen.chemo_days)
    before = clinical.pegfilgrastim_not_before_chemo(interval, regimen.infusion_hours)
    concerns = []
    doses = GcsfDose.objects.filter(patient_id=cycle.course.patient_id, product__in=[
        clinical.PEGFILGRASTIM, clinical.LIPEGFILGRASTIM], given_at__gte=given_at - before - timedelta(days=2),
        given_at__lte=given_at)
    for dose in doses.order_by("given_at"):
        acts_at = dose.given_at + (clinical.ON_BODY_INJECTOR_DELIVERS_AFTER if dose.route == GcsfDose.Route.OBI
                                   else timedelta(0))
        if given_at - before < acts_at <= given_at:
            days = (given_at - acts_at).total_seconds() / 86400
            injector = f" (on-body injector, delivering about {_local(acts_at)})" if acts_at != dose.given_at else ""
            concerns.append(f"{dose.get_product_display().split(' (')[0]} was given {_local(dose.given_at)}{injector}, "
                            f"{days:.1f} days before this day 1: the label asks for at least {before.days} days.")
    return concerns


def record_gcsf_decision(course: TreatmentCourse, decision: str, reason: str, user,
                         now: datetime | None = None) -> GcsfDecision:
    """Record, once per course, that G-CSF prophylaxis is not indicated or was declined, with a reason.

    Audited (history); it stops "G-CSF indicated but not given" for the course, whose live alert
    is resolved at once. Raises ValueError if a decision is already recorded or the reason is empty.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("give a reason")
    if decision not in GcsfDecision.Decision.values:
        raise ValueError(f"unknown decision {decision!r}")
    now = now or timezone.now()
    with transaction.atomic():
        TreatmentCourse.objects.select_for_update().filter(pk=course.pk).first()
        if GcsfDecision.objects.filter(course=course).exists():
            raise ValueError("a G-CSF decision is already recorded for this course")
        recorded = GcsfDecision(course=course, decision=decision, reason=reason, recorded_by=user, recorded_at=now)
        recorded._change_reason = f"G-CSF {decision} recorded by {user.get_username() if user else 'system'}"
        recorded.save()
        for cycle_id in Alert.objects.filter(cycle__course=course, kind=Alert.Kind.GCSF_NOT_GIVEN,
                                             resolved_at__isnull=True).values_list("cycle_id", flat=True):
            evaluate.evaluate_alerts(cycle_id, now)
    return recorded


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%a %d %b %H:%M}"


def give_cycle(cycle: Cycle, given_at: datetime, dose_fraction: Decimal = Decimal("1.00"), *,
               override_reason: str = "", overridden: list[str] | None = None) -> Cycle:
    """Record the day-1 chemotherapy of a cycle as given.

    `override_reason` and `overridden`: why it was given despite the concerns the form listed
    (give_cycle_concerns), kept on the cycle and in its history.
    """
    with transaction.atomic():
        cycle.actual_day1 = given_at
        cycle.status = Cycle.Status.GIVEN
        cycle.given_override_reason = override_reason.strip()
        cycle.given_override_concerns = "\n".join(overridden or [])
        cycle.save()
        ChemoAdministration.objects.create(cycle=cycle, day_of_cycle=1, given_at=given_at, dose_fraction=dose_fraction)
        mark_inputs_changed(_this_and_previous(cycle))
        evaluate.evaluate_observed({cycle.course.patient_id: [given_at]}, timezone.now())
    return cycle


def record_administration(
    cycle: Cycle, day_of_cycle: int, given_at: datetime, dose_fraction: Decimal
) -> ChemoAdministration:
    """Record a further chemotherapy day of a cycle (e.g. day 8)."""
    with transaction.atomic():
        administration = ChemoAdministration.objects.create(
            cycle=cycle, day_of_cycle=day_of_cycle, given_at=given_at, dose_fraction=dose_fraction
        )
        mark_inputs_changed([cycle.pk])
        evaluate.evaluate_observed({cycle.course.patient_id: [given_at]}, timezone.now())
    return administration


def delay_cycle(cycle: Cycle, new_day1: datetime, reason: str) -> Cycle:
    """Postpone a planned cycle and every later planned cycle of the course by the same time."""
    with transaction.atomic():
        shift = new_day1 - cycle.planned_day1
        later = Cycle.objects.filter(course=cycle.course, number__gt=cycle.number, status=Cycle.Status.PLANNED)
        for other in later:
            other.planned_day1 += shift
            other.save(update_fields=["planned_day1"])
        cycle.planned_day1 = new_day1
        cycle.status = Cycle.Status.DELAYED
        cycle.delay_reason = reason
        cycle.save()
        mark_inputs_changed(_this_and_previous(cycle))
        evaluate.evaluate_observed({cycle.course.patient_id: [new_day1]}, timezone.now())
    return cycle


def _this_and_previous(cycle: Cycle) -> list[int]:
    """Return the cycle and the one before it, whose readiness forecast depends on this day 1."""
    return list(
        Cycle.objects.filter(course=cycle.course, number__in=[cycle.number - 1, cycle.number]).values_list(
            "pk", flat=True
        )
    )

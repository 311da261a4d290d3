"""Evaluate the alert rules: after a recompute (every rule), at save time (the observed rules), and
for a patient with no cycle under way.

Two callers run the same rules (`alerts.rules`): the save path runs the observed rules inside the
saving transaction (`evaluate_observed`), so a dangerous result is alerted with or without the
broker and the worker; the worker runs every rule after each recompute (`evaluate_locked`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring import clinical
from monitoring.alerts import rules
from monitoring.alerts.facts import PatientResults, active_cycles, cycle_facts, load_results, patient_facts
from monitoring.alerts.lifecycle import Verdict, apply_verdicts
from monitoring.alerts.state import PatientAlerts
from monitoring.models import Alert, Cycle, Forecast, Patient, TemperatureReading
from monitoring.models.care import CYCLE_RELATED, current_cycle_of, grading_cycle_of

log = logging.getLogger(__name__)


def thresholds() -> rules.Thresholds:
    """Return the clinic's alert thresholds from settings.NEUTROWATCH."""
    config = settings.NEUTROWATCH
    return rules.Thresholds(
        grade4_predicted_probability=config["GRADE4_PREDICTED_THRESHOLD"],
        not_ready_probability=config["NOT_READY_PROBABILITY"],
        fever_policy=config["FEVER_POLICY"],
        grade4_predicted_clear_probability=config["GRADE4_PREDICTED_CLEAR_THRESHOLD"],
        rearm=timedelta(hours=config["ALERT_REARM_HOURS"]),
        rearm_margin=config["ALERT_REARM_MARGIN"],
    )


def evaluate_alerts(cycle_id: int, now: datetime | None = None) -> list[Alert]:
    """Run the rules for one cycle against its stored forecast; return the alerts raised."""
    now = now or timezone.now()
    with transaction.atomic():
        cycle = (
            Cycle.objects.select_for_update(of=("self",))
            .select_related("course__regimen", "course__patient__team")
            .filter(pk=cycle_id)
            .first()
        )
        if cycle is None:
            return []
        return evaluate_locked(cycle, Forecast.objects.filter(cycle_id=cycle_id).first(), now)


def evaluate_locked(cycle: Cycle, forecast: Forecast | None, now: datetime, *,
                    observed_only: bool = False) -> list[Alert]:
    """Raise new conditions and clear or resolve gone ones; the caller holds the cycle's row lock.

    `observed_only`: the save path, which evaluates (and raises or clears) only the observed
    kinds. Deliveries of the raised alerts are written now and sent when the transaction commits.
    """
    facts = cycle_facts(cycle, forecast, now)
    findings = rules.evaluate(facts, thresholds(), observed_only=observed_only)
    kinds = rules.OBSERVED_KINDS if observed_only else rules.ALL_KINDS
    return apply_verdicts([Verdict(cycle.course.patient, cycle, findings)], kinds, now)


def evaluate_observed(moments_by_patient: dict[int, list[datetime]], now: datetime, *,
                      cycles: dict[int, list[Cycle]] | None = None) -> list[Alert]:
    """Run the observed rules for what just changed, inside the caller's (saving) transaction.

    For each patient: the cycle each changed moment is graded in, the patient's current cycle
    (where fevers and G-CSF timing belong), or the patient alone when no cycle applies. The
    forecast-based rules are left to the worker. A fixed number of queries for any number of
    patients (an import of 1,000 patients evaluates them together). Returns the alerts raised.

    `cycles`: the patients' cycles as `patient_cycles(..., lock=True)` returned them, when the caller has already
    locked them (the save path reads them once for the forecasts it bumps and for the rules).
    """
    if not moments_by_patient:
        return []
    patient_ids = list(moments_by_patient)
    held = cycles is not None
    cycles_by_patient = active_cycles(patient_ids, cycles)
    targets: dict[int, Cycle] = {}
    alone: list[int] = []  # patients evaluated without a cycle
    for patient_id, moments in moments_by_patient.items():
        active = cycles_by_patient.get(patient_id, [])
        graded = [grading_cycle_of(active, m) for m in set(moments)]
        current = current_cycle_of(active, now)
        # A pre-dose count of a cycle not given yet decides the previous cycle's "not ready" now.
        waiting = [_previous_cycle(c, active) for c in graded if c is not None and c.actual_day1 is None]
        targets.update((c.pk, c) for c in [*graded, current, *waiting] if c is not None)
        if current is None or None in graded:
            alone.append(patient_id)
    if held:
        locked = sorted(targets.values(), key=lambda c: c.pk)
    else:
        # The caller (giving or delaying a cycle) has already written, so locked, some cycles: lock
        # only the targets, so as not to wait crosswise with a save that locks all the patient's.
        locked = list(Cycle.objects.select_for_update(of=("self",)).select_related(*CYCLE_RELATED)
                      .filter(pk__in=targets).order_by("pk"))
    patients = list(Patient.objects.select_for_update(of=("self",)).select_related("team")
                    .filter(pk__in=alone).order_by("pk"))
    since = min([c.day1 - clinical.PRE_DOSE_COUNT_WINDOW for c in locked] + [now - clinical.NO_CYCLE_COUNT_LOOKBACK])
    alerts = PatientAlerts.load(patient_ids)  # after the locks: sees what a save before us raised
    results = load_results(patient_ids, since, now, alerts=alerts)
    forecasts = _forecasts_for_fevers(locked, results)
    limits = thresholds()
    verdicts, pre_dose = [], []
    not_ready_live = {key[1]: live for key, live in alerts.live.items() if key[2] == rules.NOT_READY}
    for cycle in locked:
        patient_id = cycle.course.patient_id
        facts = cycle_facts(cycle, forecasts.get(cycle.pk), now, results=results[patient_id],
                            cycles=cycles_by_patient.get(patient_id, []))
        verdict = Verdict(cycle.course.patient, cycle, rules.evaluate(facts, limits, observed_only=True))
        verdicts.append(verdict)
        if facts.is_current:
            _note_late_fevers_not_alerted(facts, patient_id)
        if rules.has_pre_dose_count(facts):
            pre_dose.append(verdict)
        elif cycle.pk in not_ready_live:  # the next day 1 moved (a delay): the live alert names the new day now
            moved = rules.not_ready_moved(facts, not_ready_live[cycle.pk].shown)
            if moved is not None:
                pre_dose.append(Verdict(cycle.course.patient, cycle, [moved]))
    for patient in patients:
        facts = patient_facts(patient, cycles_by_patient.get(patient.pk, []), now, results=results[patient.pk])
        verdicts.append(Verdict(patient, None, rules.evaluate(facts, limits, observed_only=True)))
        if facts.is_current:
            _note_late_fevers_not_alerted(facts, patient.pk)
    raised = apply_verdicts(verdicts, rules.OBSERVED_KINDS, now, alerts=alerts)
    return raised + apply_verdicts(pre_dose, rules.PRE_DOSE_KINDS, now, alerts=alerts)


def _note_late_fevers_not_alerted(facts: rules.CycleFacts, patient_id: int) -> None:
    """Say why a fever entered late raises no alert: on the reading's history, and in the log.

    Never silent (the safety round, item 1): the reading is stored, and its history says
    "Entered late, no alert: historical: ..." (written once, where the save made it).
    """
    for fever, why in rules.late_fevers_not_alerted(facts):
        log.info("patient %s: temperature %s %s: no alert: %s", patient_id, fever.reading_id,
                 rules.delay_words(facts, fever), why)
        history = TemperatureReading.history.filter(id=fever.reading_id, history_change_reason__isnull=True)
        latest = history.order_by("-history_id").values_list("history_id", flat=True).first()
        if latest is not None:
            TemperatureReading.history.filter(history_id=latest).update(
                history_change_reason=f"Entered late, no alert: {why}"[:100])


def late_entry_words(reading: TemperatureReading) -> str:
    """Return what became of a fever entered more than a day after it was taken, for the nurse who entered it.

    "" for a reading entered in time or below 38.0 °C: the ordinary fever rules speak for it.
    """
    late = reading.entered_at - reading.taken_at > clinical.LATE_FEVER_ENTERED_AFTER
    if not late or reading.temperature_c < clinical.FEVER_SUSTAINED_C:
        return ""
    hours = int((reading.entered_at - reading.taken_at).total_seconds() // 3600)
    if Alert.objects.filter(patient_id=reading.patient_id, kind=Alert.Kind.FEVER_UNKNOWN_ANC,
                            resolved_at__isnull=True, evidence__temperature_id=reading.pk).exists():
        return (f"Entered {hours} h after it was taken: an alert was raised. Telephone the patient now to ask "
                "whether they are febrile or unwell.")
    reason = reading.history.order_by("-history_id").values_list("history_change_reason", flat=True).first()
    why = reason.removeprefix("Entered late, no alert: ") if reason else "outside the post-chemotherapy fever window"
    return f"Entered {hours} h after it was taken: no alert ({why})."


def _previous_cycle(cycle: Cycle, cycles: list[Cycle]) -> Cycle | None:
    """Return the cycle before `cycle` in its course, from the patient's active cycles."""
    return next((c for c in cycles if c.course_id == cycle.course_id and c.number == cycle.number - 1), None)


def _forecasts_for_fevers(cycles: list[Cycle], results: dict[int, PatientResults]) -> dict[int, Forecast]:
    """Return the stored forecasts of the cycles whose patient has a temperature in the lookback.

    Of the observed rules, only febrile neutropenia reads the forecast ("expected to fall"), and
    only once a fever is found among those temperatures: without one, no forecast can change what
    the rules find, so a count saved without a recent temperature reads none.
    """
    ids = [c.pk for c in cycles if results[c.course.patient_id].temperatures]
    return {f.cycle_id: f for f in Forecast.objects.filter(cycle_id__in=ids)} if ids else {}


def evaluate_patient_alerts(patient_id: int, now: datetime | None = None) -> list[Alert]:
    """Run the observed rules for a patient's results outside any active cycle; return alerts raised."""
    now = now or timezone.now()
    with transaction.atomic():
        patient = Patient.objects.select_for_update(of=("self",)).select_related("team").filter(pk=patient_id).first()
        if patient is None:
            return []
        facts = patient_facts(patient, active_cycles([patient_id]).get(patient_id, []), now)
        findings = rules.evaluate(facts, thresholds(), observed_only=True)
        return apply_verdicts([Verdict(patient, None, findings)], rules.OBSERVED_KINDS, now)

"""Alert services: evaluate the rules after a recompute, raise and resolve alerts, deliver, escalate.

The Alert rows are the in-app inbox. Each alert is raised for a *condition* of a cycle (or of
a patient without an active cycle) and stays the one live alert for it while the condition
lasts (database constraints allow one unresolved alert per cycle and kind, and per patient and
kind without a cycle). So a condition that persists over many results raises one alert, and a
duplicate result none. When the condition clears, a low, medium or high alert is resolved; a
critical one records `cleared_at` but stays open, and keeps escalating, until a person
acknowledges it (acknowledging it then resolves it).

Two callers run the same rules (monitoring.alert_rules): the save path runs the observed rules
inside the saving transaction (`evaluate_observed`), so a dangerous result is alerted with or
without the broker and the worker; the worker runs every rule after each recompute.

Deliveries follow the healthchecks pattern: a `Delivery` row per channel and recipient is
written in the same transaction as the alert, the transport runs after commit, outside any
transaction, and its outcome is written back. A delivery is claimed with a conditional update
on its attempt count, so two workers never send the same attempt twice.

Who is told (kept simple on purpose):
- in-app: the patient's responsible nurse; without one (or if she left the team), every active
  nurse of the patient's team (every active member if the team has no nurses). A CRITICAL
  alert goes to every active nurse of the team at once (and the responsible nurse);
- email: the same people, for alerts of severity >= NEUTROWATCH["EMAIL_MIN_SEVERITY"] (high);
  a critical alert is emailed to the responsible nurse and the team's escalation contact;
- webhook: the team's URL, if configured, for severity >= NEUTROWATCH["WEBHOOK_MIN_SEVERITY"];
- escalation: an unacknowledged, unresolved critical alert, ESCALATE_AFTER_MINUTES after it was
  raised, is emailed to Team.escalation_email (and sent to the webhook, marked "escalate").
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring import alert_rules, clinical
from monitoring.models import (
    Alert,
    ChemoAdministration,
    CountResult,
    Cycle,
    Delivery,
    Forecast,
    GcsfDose,
    ImportException,
    Patient,
    TemperatureReading,
    User,
)
from monitoring.models.care import current_cycle_of, grading_cycle_of
from monitoring.transports import TransportError, transport_for

log = logging.getLogger(__name__)

# A claimed delivery not finished after this long is taken to be lost (its worker died).
CLAIM_TIMEOUT = timedelta(minutes=10)
# The sweep looks at cycles that started within this many days (longer than any cycle).
SWEEP_CYCLE_LOOKBACK = timedelta(days=60)
# Chemotherapy doses this recent are loaded: checked against G-CSF doses (14 days + 24 h, with
# margin), and a fever outside any active cycle this soon after a dose is on chemotherapy.
CHEMO_TIMES_LOOKBACK = max(timedelta(days=30), clinical.NEUTROPENIC_SEPSIS_AFTER_CHEMO)
# Publishing gives up fast when the broker is down: the sweep re-dispatches what was not sent.
FAST_PUBLISH = {"retry": True, "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.1,
                                                  "interval_max": 0.1}}


def thresholds() -> alert_rules.Thresholds:
    """Return the clinic's alert thresholds from settings.NEUTROWATCH."""
    config = settings.NEUTROWATCH
    return alert_rules.Thresholds(
        grade4_predicted_probability=config["GRADE4_PREDICTED_THRESHOLD"],
        not_ready_probability=config["NOT_READY_PROBABILITY"],
        fever_policy=config["FEVER_POLICY"],
    )


# --- Evaluate -----------------------------------------------------------------------------


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
    findings = alert_rules.evaluate(facts, thresholds(), observed_only=observed_only)
    kinds = alert_rules.OBSERVED_KINDS if observed_only else alert_rules.ALL_KINDS
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
    cycles_by_patient = _active_cycles(patient_ids, cycles)
    targets: dict[int, Cycle] = {}
    alone: list[int] = []  # patients evaluated without a cycle
    for patient_id, moments in moments_by_patient.items():
        active = cycles_by_patient.get(patient_id, [])
        graded = [grading_cycle_of(active, m) for m in set(moments)]
        current = current_cycle_of(active, now)
        targets.update((c.pk, c) for c in [*graded, current] if c is not None)
        if current is None or None in graded:
            alone.append(patient_id)
    if held:
        locked = sorted(targets.values(), key=lambda c: c.pk)
    else:
        # The caller (giving or delaying a cycle) has already written, so locked, some cycles: lock
        # only the targets, so as not to wait crosswise with a save that locks all the patient's.
        locked = list(Cycle.objects.select_for_update(of=("self",)).select_related(*_CYCLE_RELATED)
                      .filter(pk__in=targets).order_by("pk"))
    patients = list(Patient.objects.select_for_update(of=("self",)).select_related("team")
                    .filter(pk__in=alone).order_by("pk"))
    since = min([c.day1 - clinical.PRE_DOSE_COUNT_WINDOW for c in locked] + [now - clinical.NO_CYCLE_COUNT_LOOKBACK])
    alerts = PatientAlerts.load(patient_ids)  # after the locks: sees what a save before us raised
    results = load_results(patient_ids, since, now, alerts=alerts)
    forecasts = _forecasts_for_fevers(locked, results)
    rules = thresholds()
    verdicts = []
    for cycle in locked:
        patient_id = cycle.course.patient_id
        facts = cycle_facts(cycle, forecasts.get(cycle.pk), now, results=results[patient_id],
                            cycles=cycles_by_patient.get(patient_id, []))
        verdicts.append(Verdict(cycle.course.patient, cycle, alert_rules.evaluate(facts, rules, observed_only=True)))
    for patient in patients:
        facts = patient_facts(patient, cycles_by_patient.get(patient.pk, []), now, results=results[patient.pk])
        verdicts.append(Verdict(patient, None, alert_rules.evaluate(facts, rules, observed_only=True)))
    return apply_verdicts(verdicts, alert_rules.OBSERVED_KINDS, now, alerts=alerts)


def _forecasts_for_fevers(cycles: list[Cycle], results: dict[int, PatientResults]) -> dict[int, Forecast]:
    """Return the stored forecasts of the cycles whose patient has a temperature in the lookback.

    Of the observed rules, only febrile neutropenia reads the forecast ("expected to fall"), and
    only once a fever is found among those temperatures: without one, no forecast can change what
    the rules find, so a count saved without a recent temperature reads none.
    """
    ids = [c.pk for c in cycles if results[c.course.patient_id].temperatures]
    return {f.cycle_id: f for f in Forecast.objects.filter(cycle_id__in=ids)} if ids else {}


_CYCLE_RELATED = ("course__regimen", "course__patient__team")


def patient_cycles(patient_ids: list[int], *, lock: bool = False) -> dict[int, list[Cycle]]:
    """Return each patient's cycles, of every course, cancelled ones left out (one query).

    Each list is in the model's order (latest course first, then by number), whatever the order
    the rows were read (and locked) in. `lock`: the save path reads the cycles once, under the
    lock the observed rules need, before it locks anything else; rows are locked in primary-key
    order, so two saves never wait for each other crosswise.
    """
    rows = Cycle.objects.select_for_update(of=("self",)) if lock else Cycle.objects.all()
    rows = (rows.select_related(*_CYCLE_RELATED).filter(course__patient_id__in=patient_ids)
            .exclude(status=Cycle.Status.CANCELLED).order_by("pk"))
    by_patient: dict[int, list[Cycle]] = {}
    for cycle in sorted(rows, key=lambda c: (-c.course.started_on.toordinal(), -c.course_id, c.number)):
        by_patient.setdefault(cycle.course.patient_id, []).append(cycle)
    return by_patient


def evaluate_patient_alerts(patient_id: int, now: datetime | None = None) -> list[Alert]:
    """Run the observed rules for a patient's results outside any active cycle; return alerts raised."""
    now = now or timezone.now()
    with transaction.atomic():
        patient = Patient.objects.select_for_update(of=("self",)).select_related("team").filter(pk=patient_id).first()
        if patient is None:
            return []
        facts = patient_facts(patient, _active_cycles([patient_id]).get(patient_id, []), now)
        findings = alert_rules.evaluate(facts, thresholds(), observed_only=True)
        return apply_verdicts([Verdict(patient, None, findings)], alert_rules.OBSERVED_KINDS, now)


def _active_cycles(patient_ids: list[int], cycles: dict[int, list[Cycle]] | None = None) -> dict[int, list[Cycle]]:
    """Return each patient's cycles of active courses, cancelled ones left out (one query, none if
    `cycles`, as patient_cycles returns them, are given)."""
    if cycles is None:
        cycles = patient_cycles(patient_ids)
    return {patient_id: [c for c in of_patient if c.course.active] for patient_id, of_patient in cycles.items()}


# --- Store what the rules found -------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the rules found for one patient's cycle (or the patient alone, cycle None)."""

    patient: Patient
    cycle: Cycle | None
    findings: list[alert_rules.Finding]


def apply_verdicts(verdicts: list[Verdict], kinds, now: datetime, *,
                   alerts: PatientAlerts | None = None) -> list[Alert]:
    """Raise, keep, clear or resolve the alerts of `kinds` for each verdict; return the alerts raised.

    A fixed number of queries for the whole list, plus one update per alert whose state changes.
    `alerts`: the patients' alerts, if the caller loaded them after taking its locks.
    """
    if not verdicts:
        return []
    if alerts is None:
        alerts = PatientAlerts.load({v.patient.pk for v in verdicts})
    raised: list[Alert] = []
    for verdict in verdicts:
        cycle_id = verdict.cycle.pk if verdict.cycle is not None else None
        found = {f.kind: f for f in verdict.findings if f.kind in kinds}
        for kind in kinds:
            alert = alerts.live.get((verdict.patient.pk, cycle_id, kind))
            if alert is not None:
                _update_live(alert, found.get(kind), now)
            elif kind in found and _should_raise(found[kind], verdict.patient.pk, cycle_id, alerts):
                f = found[kind]
                raised.append(Alert(patient=verdict.patient, cycle=verdict.cycle, kind=f.kind, severity=f.severity,
                                    message=f.message, evidence=f.evidence, raised_at=now, cleared_at=f.cleared_at))
    if raised:
        bulk_create_with_history(raised, Alert)  # issue 25: an alert's history starts when it is raised
        deliveries = _create_deliveries(_notifications(raised))
        transaction.on_commit(lambda: dispatch(deliveries))
    return raised


@dataclass(frozen=True)
class LiveAlert:
    """What keeping, clearing or resolving an unresolved alert needs to know about it."""

    pk: int
    severity: int
    cleared_at: datetime | None
    acknowledged_at: datetime | None


@dataclass
class PatientAlerts:
    """What the rules and apply_verdicts need from the patients' alerts, read in one query.

    `live`: the unresolved alerts, by (patient, cycle, kind); `alerted`: every (patient, cycle,
    kind, count) that already had an alert; `fn_cycle_ids`: each patient's cycles with a
    febrile-neutropenia alert (prior_febrile_neutropenia).
    """

    live: dict[tuple, LiveAlert] = field(default_factory=dict)
    alerted: set[tuple] = field(default_factory=set)
    fn_cycle_ids: dict[int, set[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, patient_ids) -> PatientAlerts:
        alerts = cls()
        rows = Alert.objects.filter(patient_id__in=list(patient_ids)).order_by().values_list(
            "pk", "patient_id", "cycle_id", "kind", "severity", "cleared_at", "acknowledged_at", "resolved_at",
            "evidence__count_id")
        for pk, patient_id, cycle_id, kind, severity, cleared_at, acknowledged_at, resolved_at, count_id in rows:
            alerts.alerted.add((patient_id, cycle_id, kind, count_id))
            if resolved_at is None:
                alerts.live[(patient_id, cycle_id, kind)] = LiveAlert(pk, severity, cleared_at, acknowledged_at)
            if kind == Alert.Kind.FEBRILE_NEUTROPENIA and cycle_id is not None:
                alerts.fn_cycle_ids.setdefault(patient_id, set()).add(cycle_id)
        return alerts

    def __contains__(self, key: tuple) -> bool:
        """Return True if the (patient, cycle, kind, count) already had an alert."""
        return key in self.alerted


def _update_live(alert: LiveAlert, finding: alert_rules.Finding | None, now: datetime) -> None:
    """Keep a live alert whose condition holds; clear or resolve one whose condition is gone.

    A critical alert nobody has acknowledged is never resolved here: it records when its
    condition cleared and stays open (and escalates) until acknowledged.
    """
    rows = Alert.objects.filter(pk=alert.pk)
    if finding is not None and finding.cleared_at is None:
        if alert.cleared_at is not None:
            rows.update(cleared_at=None)  # the condition is back
        return
    cleared_at = alert.cleared_at or (finding.cleared_at if finding is not None else None) or now
    if alert.severity >= Alert.Severity.CRITICAL and alert.acknowledged_at is None:
        if alert.cleared_at is None and rows.filter(acknowledged_at__isnull=True).update(cleared_at=cleared_at):
            return
        if alert.cleared_at is not None:
            return
    rows.update(cleared_at=cleared_at, resolved_at=now)


def _should_raise(finding: alert_rules.Finding, patient_id: int, cycle_id: int | None,
                  alerted: PatientAlerts) -> bool:
    """Return False for a condition already over that needs no new alert.

    A condition that has already cleared is still raised when critical (a grade 4 count that
    arrived after the recovery count, for instance), but only once for the same count.
    """
    if finding.cleared_at is None:
        return True
    if finding.severity < Alert.Severity.CRITICAL:
        return False
    count_id = finding.evidence.get("count_id")
    return count_id is None or (patient_id, cycle_id, finding.kind, count_id) not in alerted


# --- Counts held for review ---------------------------------------------------------------------


def evaluate_held(patient_ids, now: datetime | None = None) -> list[Alert]:
    """Raise, keep or resolve each patient's "count held for review" alert (alert_rules.held_result).

    Called where a patient's open exceptions change: an import that keeps a record of a known
    patient (in its transaction) and closing an exception (fixed, dismissed, re-tried). No other
    evaluation touches this kind. Locks the patients (after any cycles the caller has locked, as
    the save path does), so two imports cannot both raise it.
    """
    ids = sorted({pk for pk in patient_ids if pk is not None})
    if not ids:
        return []
    now = now or timezone.now()
    patients = list(Patient.objects.select_for_update(of=("self",)).select_related("team")
                    .filter(pk__in=ids).order_by("pk"))
    held: dict[int, list[alert_rules.HeldCount]] = defaultdict(list)
    rows = ImportException.objects.filter(status=ImportException.Status.OPEN, patient_id__in=ids).order_by("pk")
    for exception in rows.only("pk", "patient_id", "values", "problems"):
        anc = held_anc(exception.values)
        if anc is not None:
            held[exception.patient_id].append(alert_rules.HeldCount(
                exception.pk, anc, exception.values.get("collected_at", "")[:16].replace("T", " "),
                exception.problems_text))
    verdicts = [Verdict(p, None, [f] if (f := alert_rules.held_result(held[p.pk])) is not None else [])
                for p in patients]
    return apply_verdicts(verdicts, {alert_rules.HELD_RESULT}, now)


def held_anc(values: dict) -> Decimal | None:
    """Return the ANC (10^9/L) a held record's values say, or None if they are not a readable count.

    The ANC, or the WBC with the neutrophil % (bands added when given); a censored "<0.1" counts
    as its bound. Values in a unit that makes them implausible are not graded.
    """
    from monitoring import services

    def number(key: str) -> Decimal | None:
        text = values.get(key)
        return clinical.to_censored_decimal(text, key)[1] if text else None

    try:
        return services.parse_count(
            collected_at=timezone.now(), unit=values.get("unit") or clinical.UNIT_1E9_PER_L, anc=number("anc"),
            wbc=number("wbc"), neutrophil_pct=number("neutrophil_pct"), band_pct=number("band_pct"),
        ).anc_1e9_per_l
    except clinical.ClinicalValueError:
        return None


# --- Facts for the rules ------------------------------------------------------------------------


@dataclass
class PatientResults:
    """A patient's results the rules look at, loaded for many patients at once (load_results)."""

    counts: list[alert_rules.CountPoint] = field(default_factory=list)
    temperatures: list[clinical.TemperaturePoint] = field(default_factory=list)
    gcsf: list[alert_rules.GcsfPoint] = field(default_factory=list)
    chemo: list[tuple[int, alert_rules.ChemoPoint]] = field(default_factory=list)  # (cycle id, dose)
    fn_cycle_ids: set[int] = field(default_factory=set)  # cycles with a febrile-neutropenia alert


def load_results(patient_ids: list[int], since: datetime, now: datetime, *,
                 alerts: PatientAlerts | None = None) -> dict[int, PatientResults]:
    """Return every patient's results from `since` (counts) up to now, in two queries (one if the
    patients' `alerts` are given)."""
    results = load_measurements(patient_ids, since, now)
    fn_cycle_ids = (alerts or PatientAlerts.load(patient_ids)).fn_cycle_ids
    for patient_id in patient_ids:
        results[patient_id].fn_cycle_ids = fn_cycle_ids.get(patient_id, set())
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

    def tagged(kind: str, rows, patient: str, at: str, value=None, product=None, cycle=None):
        # Every column an expression, so that each query selects them in this order; typed NULLs,
        # so that PostgreSQL matches each column's type across the four.
        return rows.order_by().values_list(
            models.Value(kind, output_field=text), F(patient), F("pk"), F(at),
            Cast(None, output_field=decimal) if value is None else F(value) if isinstance(value, str) else value,
            F(product) if product else models.Value("", output_field=text),
            F(cycle) if cycle else Cast(None, output_field=key))

    counts = tagged(_COUNT, CountResult.objects.filter(
        patient_id__in=patient_ids, collected_at__gte=since, collected_at__lte=now),
        "patient_id", "collected_at", value="anc_1e9_per_l")
    temperatures = tagged(_TEMPERATURE, TemperatureReading.objects.filter(
        patient_id__in=patient_ids, taken_at__gte=now - clinical.FN_FEVER_LOOKBACK, taken_at__lte=now),
        "patient_id", "taken_at", value="temperature_c")
    doses = tagged(_GCSF, GcsfDose.objects.filter(
        patient_id__in=patient_ids, given_at__gte=min(since, now - clinical.GCSF_TIMING_LOOKBACK), given_at__lte=now),
        "patient_id", "given_at", product="product")
    chemo = tagged(_CHEMO, ChemoAdministration.objects.filter(
        cycle__course__patient_id__in=patient_ids, given_at__gte=min(since, now - CHEMO_TIMES_LOOKBACK),
        given_at__lte=now), "cycle__course__patient_id", "given_at",
        value=Cast("cycle__course__regimen__infusion_hours", output_field=decimal), cycle="cycle_id")
    rows = counts.union(temperatures, doses, chemo, all=True)
    results: dict[int, PatientResults] = defaultdict(PatientResults)
    for kind, patient_id, pk, at, value, product, cycle_id in sorted(rows, key=lambda row: (row[3], row[2])):
        patient = results[patient_id]
        if kind == _COUNT:
            patient.counts.append(alert_rules.CountPoint(at, _stored(value, _ANC_PLACES), pk))
        elif kind == _TEMPERATURE:
            patient.temperatures.append(clinical.TemperaturePoint(at, _stored(value, _CELSIUS_PLACES)))
        elif kind == _GCSF:
            patient.gcsf.append(alert_rules.GcsfPoint(at, product, pk))
        else:
            patient.chemo.append((cycle_id, alert_rules.ChemoPoint(at, int(value))))
    return results


_ANC_PLACES = CountResult._meta.get_field("anc_1e9_per_l").decimal_places
_CELSIUS_PLACES = TemperatureReading._meta.get_field("temperature_c").decimal_places


def _stored(value, places: int) -> Decimal:
    """Return a decimal as its column stores it: a UNION's column has one type (SQLite gives floats)."""
    return Decimal(value).quantize(Decimal(1).scaleb(-places))


def cycle_facts(cycle: Cycle, forecast: Forecast | None, now: datetime, *,
                results: PatientResults | None = None, cycles: list[Cycle] | None = None) -> alert_rules.CycleFacts:
    """Gather what the rules need about `cycle` at `now`.

    `results` and `cycles` (the patient's active cycles) are loaded here unless given.
    """
    course, patient = cycle.course, cycle.course.patient
    regimen = course.regimen
    day1 = cycle.day1
    counts_from = min(day1 - clinical.PRE_DOSE_COUNT_WINDOW, now - clinical.KNOWN_ANC_WITHIN)
    if cycles is None:
        cycles = _active_cycles([patient.pk]).get(patient.pk, [])
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
    chemo_from = min(day1, now - CHEMO_TIMES_LOOKBACK)
    chemo = [(cycle_id, dose) for cycle_id, dose in results.chemo if dose.given_at >= chemo_from]
    return alert_rules.CycleFacts(
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
        gcsf_risk_factors=tuple(patient.gcsf_risk_factors(timezone.localdate(now))),
        counts=tuple(c for c in results.counts if c.collected_at >= counts_from),
        temperatures=tuple(results.temperatures),
        gcsf_given_at=tuple(d.given_at for d in results.gcsf
                            if d.given_at >= day1 - clinical.GCSF_COUNTS_FROM_BEFORE_DAY1),
        forecast=_forecast_facts(forecast),
        is_current=current is not None and current.pk == cycle.pk,
        on_chemotherapy=True,
        chemo_given_at=tuple(dose for cycle_id, dose in chemo if cycle_id == cycle.pk),
        chemo_times=tuple(dose for _, dose in chemo),
        gcsf_doses=tuple(d for d in results.gcsf if d.given_at >= now - clinical.GCSF_TIMING_LOOKBACK),
        prior_febrile_neutropenia=patient.prior_febrile_neutropenia or bool(results.fn_cycle_ids - {cycle.pk}),
        chemo_interval_days=clinical.chemo_interval_days(regimen.cycle_length_days, regimen.chemo_days),
    )


def _next_cycle(cycle: Cycle, cycles: list[Cycle]) -> Cycle | None:
    """Return the next cycle of the same course (cancelled ones left out)."""
    if cycle.course.active:  # `cycles` holds the active courses' cycles
        return next((c for c in cycles if c.course_id == cycle.course_id and c.number == cycle.number + 1), None)
    return (Cycle.objects.filter(course_id=cycle.course_id, number=cycle.number + 1)
            .exclude(status=Cycle.Status.CANCELLED).first())


def patient_facts(patient: Patient, cycles: list[Cycle], now: datetime, *,
                  results: PatientResults | None = None) -> alert_rules.CycleFacts:
    """Gather the facts of a patient's results that no active cycle grades (the observed rules only).

    The patient counts as on chemotherapy (the NICE fever rule) for NEUTROPENIC_SEPSIS_AFTER_CHEMO
    after their last dose, whether its course has ended or not.
    """
    since = now - clinical.NO_CYCLE_COUNT_LOOKBACK
    if results is None:
        results = load_results([patient.pk], since, now)[patient.pk]
    last_chemo = max((dose.given_at for _, dose in results.chemo), default=None)
    return alert_rules.CycleFacts(
        now=now, clinic_tz=timezone.get_current_timezone(), cycle_number=0, day1=None, chemo_given=False,
        cycle_over=False, next_day1=None, fn_risk="", nadir_window_days=(0, 0),
        next_cycle_anc_1e9_per_l=clinical.DEFAULT_NEXT_CYCLE_ANC,
        counts=tuple(c for c in results.counts
                     if c.collected_at >= since and grading_cycle_of(cycles, c.collected_at) is None),
        temperatures=tuple(results.temperatures),
        is_current=current_cycle_of(cycles, now) is None,
        on_chemotherapy=last_chemo is not None and now - last_chemo <= clinical.NEUTROPENIC_SEPSIS_AFTER_CHEMO,
        chemo_times=tuple(dose for _, dose in results.chemo if dose.given_at >= now - CHEMO_TIMES_LOOKBACK),
        gcsf_doses=tuple(d for d in results.gcsf if d.given_at >= now - clinical.GCSF_TIMING_LOOKBACK),
    )


def _forecast_facts(forecast: Forecast | None) -> alert_rules.ForecastFacts | None:
    from monitoring.selectors import from_local_iso

    if forecast is None or forecast.error:
        return None
    trajectory = tuple(
        alert_rules.TrajectoryPoint(from_local_iso(p["time"]), p["anc"], p["lo80"], p["hi80"])
        for p in forecast.trajectory
    )
    return alert_rules.ForecastFacts(
        nadir_anc_1e9_per_l=forecast.nadir_anc_1e9_per_l,
        nadir_lo80=forecast.nadir_lo80,
        nadir_hi80=forecast.nadir_hi80,
        nadir_at=forecast.nadir_at,
        p_grade4=forecast.p_grade4,
        p_ready=forecast.p_ready,
        trajectory=trajectory,
        next_fbc_on=forecast.next_fbc_on,
    )


# --- Who is told --------------------------------------------------------------------------


def notify_recipients(patient, members: list[User] | None = None) -> list[User]:
    """Return the responsible nurse, or else the team's active nurses (else all its members)."""
    members = _team_members([patient.team_id])[patient.team_id] if members is None else members
    nurse = next((u for u in members if u.pk == patient.responsible_nurse_id), None)
    if nurse is not None:
        return [nurse]
    nurses = [user for user in members if user.role == User.Role.NURSE]
    return nurses or list(members)


def critical_recipients(patient, members: list[User] | None = None) -> tuple[list[User], list[str]]:
    """Return (in-app, email) recipients of a critical alert: the whole team at once.

    In-app: every active nurse of the patient's team, and the responsible nurse (every active
    member if the team has no nurses). Email: the responsible nurse (else the usual recipients)
    and the team's escalation contact.
    """
    members = _team_members([patient.team_id])[patient.team_id] if members is None else members
    inapp = [u for u in members if u.role == User.Role.NURSE or u.pk == patient.responsible_nurse_id] or members
    emails = [u.email for u in notify_recipients(patient, members) if u.email]
    if patient.team.escalation_email:
        emails.append(patient.team.escalation_email)
    return inapp, sorted(set(emails))


def _team_members(team_ids) -> dict[int, list[User]]:
    """Return the active members of each team, in a stable order (one query)."""
    members: dict[int, list[User]] = {team_id: [] for team_id in team_ids}
    links = User.teams.through.objects.filter(team_id__in=list(team_ids), user__is_active=True).select_related("user")
    for link in links.order_by("user_id"):
        members[link.team_id].append(link.user)
    return members


def _notifications(alerts: list[Alert]) -> list[Delivery]:
    config = settings.NEUTROWATCH
    members = _team_members({alert.patient.team_id for alert in alerts})
    rows = []
    for alert in alerts:
        patient = alert.patient
        team_members = members[patient.team_id]
        if alert.severity >= Alert.Severity.CRITICAL:
            inapp, emails = critical_recipients(patient, team_members)
        else:
            inapp, emails = notify_recipients(patient, team_members), []
            if alert.severity >= config["EMAIL_MIN_SEVERITY"]:
                emails = sorted({p.email for p in inapp if p.email})
        rows += [Delivery(alert=alert, channel=Delivery.Channel.INAPP, recipient=p.username) for p in inapp]
        rows += [Delivery(alert=alert, channel=Delivery.Channel.EMAIL, recipient=e) for e in emails]
        if patient.team.webhook_url and alert.severity >= config["WEBHOOK_MIN_SEVERITY"]:
            rows.append(Delivery(alert=alert, channel=Delivery.Channel.WEBHOOK, recipient=patient.team.webhook_url))
    return rows


def _create_deliveries(rows: list[Delivery]) -> list[tuple[int, str]]:
    created = Delivery.objects.bulk_create(rows)
    return [(d.pk, d.channel) for d in created]


# --- Deliver ------------------------------------------------------------------------------


def dispatch(deliveries: list[tuple[int, str]]) -> None:
    """Send (delivery id, channel) pairs: in-app right here, the others through the worker."""
    for delivery_id, channel in deliveries:
        if channel == Delivery.Channel.INAPP:
            deliver(delivery_id)
            continue
        publish(delivery_id, channel, 0)


def publish(delivery_id: int, channel: str, attempt: int, countdown: float | None = None) -> bool:
    """Enqueue one attempt of a delivery on its channel's queue; False if the broker is unreachable.

    Nothing is lost when publishing fails: the delivery stays pending and the catch-up job
    (`redispatch_pending`, every minute) publishes it again.
    """
    from monitoring import routing, tasks

    try:
        tasks.deliver.apply_async((delivery_id, attempt), countdown=countdown, queue=routing.delivery_queue(channel),
                                  **FAST_PUBLISH)
    except Exception:  # kombu's OperationalError and friends
        log.warning("broker unreachable: delivery %s left for the catch-up job", delivery_id)
        return False
    return True


@dataclass(frozen=True)
class Outcome:
    status: str  # a Delivery.Status value, or "skipped" when another worker has this attempt
    retry_in_seconds: float | None = None


def deliver(delivery_id: int, attempt: int = 0, now: datetime | None = None) -> Outcome:
    """Make attempt number `attempt + 1` of a delivery and record its outcome.

    The attempt is claimed by a conditional update on the attempt count: a duplicate task,
    or a redelivered one whose attempt already ran, changes nothing and sends nothing.
    """
    now = now or timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING], attempts=attempt
    ).update(attempts=attempt + 1, claimed_at=now)
    if not claimed:
        return Outcome("skipped")
    delivery = Delivery.objects.select_related("alert__patient__team", "alert__cycle").get(pk=delivery_id)
    if delivery.purpose == Delivery.Purpose.ESCALATE and delivery.alert.acknowledged_at is not None:
        return _record(delivery, Delivery.Status.FAILED, "not sent: the alert was acknowledged first")
    try:
        transport_for(delivery.channel)(delivery)
    except TransportError as error:
        return _record_failure(delivery, error)
    return _record(delivery, Delivery.Status.SENT, "", sent_at=timezone.now())


def _record_failure(delivery: Delivery, error: TransportError) -> Outcome:
    config = settings.NEUTROWATCH
    if error.permanent or delivery.attempts >= config["DELIVERY_MAX_ATTEMPTS"]:
        log.warning("delivery %s failed for good: %s", delivery.pk, error.message)
        return _record(delivery, Delivery.Status.FAILED, error.message)
    delay = min(config["DELIVERY_RETRY_BASE_SECONDS"] * 2 ** (delivery.attempts - 1),
                config["DELIVERY_RETRY_MAX_SECONDS"])
    outcome = _record(delivery, Delivery.Status.RETRYING, error.message, retry_in_seconds=delay)
    publish(delivery.pk, delivery.channel, delivery.attempts, countdown=delay)
    return outcome


def _record(delivery: Delivery, status: str, error: str, *, sent_at=None, retry_in_seconds=None) -> Outcome:
    # Only the claimant of this attempt may write its outcome.
    next_attempt_at = None if retry_in_seconds is None else timezone.now() + timedelta(seconds=retry_in_seconds)
    Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
        status=status, last_error=error[:2000], sent_at=sent_at, next_attempt_at=next_attempt_at
    )
    return Outcome(status, retry_in_seconds)


# --- Escalate -----------------------------------------------------------------------------


def escalate_due(now: datetime | None = None) -> int:
    """Escalate every critical alert left unacknowledged too long; return how many.

    Acknowledging (services.acknowledge_alert) stops escalation: an acknowledged alert is
    never claimed here, and an escalation not yet sent when it is acknowledged is dropped.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.NEUTROWATCH["ESCALATE_AFTER_MINUTES"])
    unattended = Q(acknowledged_at__isnull=True, resolved_at__isnull=True, escalated_at__isnull=True)
    due = Alert.objects.filter(unattended, severity=Alert.Severity.CRITICAL, raised_at__lte=cutoff)
    escalated = 0
    for alert_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            if not Alert.objects.filter(unattended, pk=alert_id).update(escalated_at=now):
                continue  # acknowledged, resolved or escalated by someone else meanwhile
            alert = Alert.objects.select_related("patient__team").get(pk=alert_id)
            deliveries = _create_deliveries(_escalations(alert))
            transaction.on_commit(lambda d=deliveries: dispatch(d))
            escalated += 1
    return escalated


def _escalations(alert: Alert) -> list[Delivery]:
    team = alert.patient.team
    rows = []
    if team.escalation_email:
        rows.append(Delivery(alert=alert, channel=Delivery.Channel.EMAIL, purpose=Delivery.Purpose.ESCALATE,
                             recipient=team.escalation_email))
    if team.webhook_url:
        rows.append(Delivery(alert=alert, channel=Delivery.Channel.WEBHOOK, purpose=Delivery.Purpose.ESCALATE,
                             recipient=team.webhook_url))
    if not rows:
        log.warning("alert %s is due for escalation but team %s has no escalation contact", alert.pk, team)
    return rows


# --- Sweep --------------------------------------------------------------------------------


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Re-run the rules whose answer changes with time alone, and re-send lost deliveries.

    Nadir windows open and close, G-CSF falls due on day 3, a fever ages out of its 24 hours,
    a cycle ends when the next one starts: none of that saves a result, so a beat job calls
    this every few minutes. Returns counts of what it did.
    """
    now = now or timezone.now()
    raised = sum(len(evaluate_alerts(cycle_id, now)) for cycle_id in cycles_to_sweep(now))
    patients = Alert.objects.filter(resolved_at__isnull=True, cycle__isnull=True).values_list("patient_id", flat=True)
    raised += sum(len(evaluate_patient_alerts(patient_id, now)) for patient_id in sorted(set(patients)))
    return {"alerts_raised": raised, "deliveries_redispatched": redispatch_stuck(now)}


def cycles_to_sweep(now: datetime) -> list[int]:
    """Return the cycles under way (started in the last 60 days) and those with a live alert."""
    started = (
        Cycle.objects.filter(course__active=True, course__patient__active=True)
        .exclude(status=Cycle.Status.CANCELLED)
        .annotate(day1_at=Coalesce("actual_day1", "planned_day1"))
        .filter(day1_at__lte=now, day1_at__gte=now - SWEEP_CYCLE_LOOKBACK)
        .values_list("pk", flat=True)
    )
    alerted = Alert.objects.filter(resolved_at__isnull=True, cycle__isnull=False).values_list("cycle_id", flat=True)
    return sorted(set(started) | set(alerted))


def redispatch_stuck(now: datetime) -> int:
    """Re-enqueue deliveries whose task was lost (broker down, worker killed mid-send)."""
    stale = now - CLAIM_TIMEOUT
    stuck = Delivery.objects.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]).filter(
        Q(claimed_at__lt=stale) | Q(claimed_at__isnull=True, created_at__lt=stale)
    )
    return _redispatch(list(stuck.values_list("pk", "channel", "attempts")), now)


def redispatch_pending(now: datetime | None = None) -> int:
    """Publish again every delivery whose task is a minute overdue; return how many.

    That is a delivery never claimed a minute after it was written (its task was not published:
    the broker was down when the alert was raised, or it is lost), and a failed one whose retry
    is a minute overdue (the retry's delayed task was lost with a Redis restart, or could not be
    published). A beat job runs this every minute, and `recompute_stale` calls it, so email and
    webhook go out within two minutes of Redis returning without anyone stepping in. Publishing
    a delivery twice is harmless: `deliver` claims each attempt once.
    """
    now = now or timezone.now()
    overdue = now - timedelta(seconds=settings.NEUTROWATCH["DELIVERY_CATCHUP_AFTER_SECONDS"])
    pending = Delivery.objects.filter(
        Q(status=Delivery.Status.PENDING, claimed_at__isnull=True, created_at__lte=overdue)
        | Q(status=Delivery.Status.RETRYING, next_attempt_at__lte=overdue)
    )
    return _redispatch(list(pending.values_list("pk", "channel", "attempts")), now)


def _redispatch(rows: list[tuple[int, str, int]], now: datetime) -> int:
    for delivery_id, channel, attempts in rows:
        if channel == Delivery.Channel.INAPP:
            deliver(delivery_id, attempts, now)
        elif not publish(delivery_id, channel, attempts):
            break  # the broker is still down: the next run tries again
    return len(rows)

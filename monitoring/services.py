"""Write paths: every change to clinical data goes through a function here.

Each function changes state in one transaction, bumps the input version of every
cycle whose forecast the change affects, and enqueues one recompute per affected
cycle when the transaction commits. Saving never fails because the broker is down:
the cycle stays stale and `recompute_stale` (also a beat job) catches up.

Inside the same transaction, every write path runs the observed alert rules for the
patients it touched (`alerting.evaluate_observed`): what a result shows is alerted at
save time, whether or not the broker, the worker or a forecast is there.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone
from scipy.special import ndtr
from simple_history.utils import bulk_create_with_history

from monitoring import alerting, clinical
from monitoring.models import (
    ChemoAdministration,
    CountResult,
    Cycle,
    Forecast,
    ForecastScore,
    GcsfDose,
    LearnedPrior,
    Patient,
    Regimen,
    TemperatureReading,
    TreatmentCourse,
)
from monitoring.models.care import current_cycle_of
from monitoring.models.results import Source

log = logging.getLogger(__name__)

# A clock a few minutes fast (an analyser's, a ward PC's) is not an error: every entry path
# accepts a time up to this far ahead of its own clock, so a forecast reads its inputs as far.
FUTURE_TOLERANCE = timedelta(minutes=5)


# --- Which cycles a change touches -------------------------------------------------------


def affected_cycle_ids(patient_id: int, moments: Iterable[datetime], now: datetime) -> set[int]:
    """Return the cycles whose forecast depends on inputs at `moments`.

    That is the cycle each input falls in, and the patient's current cycle, whose
    forecast learns from every earlier count. One query.
    """
    return affected_cycle_ids_bulk({patient_id: list(moments)}, now)


def results_changed(moments_by_patient: dict[int, list[datetime]], now: datetime) -> None:
    """Bump the forecasts the change affects (recomputed on commit) and run the observed rules now.

    Both read the patients' cycles from one query, which also takes the row locks the rules need.
    """
    if not moments_by_patient:
        return
    cycles = alerting.patient_cycles(list(moments_by_patient), lock=True)
    mark_inputs_changed(affected_cycle_ids_bulk(moments_by_patient, now, cycles=cycles))
    alerting.evaluate_observed(moments_by_patient, now, cycles=cycles)


def mark_inputs_changed(cycle_ids: Iterable[int]) -> None:
    """Bump the cycles' input versions and enqueue one recompute each on commit."""
    cycle_ids = sorted(set(cycle_ids))
    if not cycle_ids:
        return
    Cycle.objects.filter(pk__in=cycle_ids).update(input_version=F("input_version") + 1, inputs_changed_at=Now())
    transaction.on_commit(lambda: enqueue_recomputes(cycle_ids))


# Publishing one Celery task costs about a millisecond of Python. A change that touches many cycles
# at once (an import, a burst of MLLP messages stored together) publishes one fan-out task per
# FANOUT_CHUNK cycles instead, which a worker splits into one recompute task per cycle (so they
# still run in parallel on every worker). Fewer cycles are published one task each, as before.
FANOUT_FROM = 8
FANOUT_CHUNK = 500


def enqueue_recomputes(cycle_ids: Iterable[int]) -> int:
    """Publish the recomputes of these cycles; if the broker is unreachable, log it and rely on the sweeper.

    Returns how many cycles' recomputes were published (in order: the first N of `cycle_ids`).
    Publishing retries once after 0.1 s, then gives up (tens of milliseconds with the broker
    down), so a save is never held up for long.
    """
    cycle_ids = list(cycle_ids)
    if len(cycle_ids) < FANOUT_FROM:
        return _publish_each(cycle_ids)
    return _publish([cycle_ids[start:start + FANOUT_CHUNK] for start in range(0, len(cycle_ids), FANOUT_CHUNK)],
                    fan_out=True)


def _publish_each(cycle_ids: list[int]) -> int:
    return _publish([[cycle_id] for cycle_id in cycle_ids], fan_out=False)


def _publish(groups: list[list[int]], *, fan_out: bool) -> int:
    """Publish one task per group of cycle ids (a fan-out task, or a recompute of a single cycle).

    Returns how many cycles' recomputes were published before the broker failed, if it did.
    """
    from monitoring import alerting, tasks

    published = 0
    for group in groups:
        try:
            if fan_out:
                tasks.recompute_cycles.apply_async((group,), **alerting.FAST_PUBLISH)
            else:
                tasks.recompute_cycle.apply_async((group[0],), **alerting.FAST_PUBLISH)
        except Exception:  # kombu raises OperationalError and friends; the save must stand.
            left = sum(len(g) for g in groups) - published
            log.warning("broker unreachable: %d cycle(s) left stale for recompute_stale", left)
            return published
        published += len(group)
    return published


def fan_out_recomputes(cycle_ids: list[int]) -> int:
    """Split a fan-out task into one recompute task per cycle; recompute here what cannot be published.

    Returns how many were published.
    """
    published = _publish_each(list(cycle_ids))
    for cycle_id in list(cycle_ids)[published:]:
        recompute_cycle(cycle_id)
    return published


# --- Counts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountInput:
    """A validated blood count in canonical units, ready to store."""

    collected_at: datetime
    anc_1e9_per_l: Decimal
    anc_computed: bool
    entered_value: str
    entered_unit: str
    wbc_1e9_per_l: Decimal | None = None
    neutrophil_pct: Decimal | None = None
    band_pct: Decimal | None = None
    accession: str = ""
    lln_1e9_per_l: Decimal | None = None
    qualifier: str = ""  # "<" / ">": a censored lab value, stored as its bound and graded from it


def parse_count(
    *,
    collected_at: datetime,
    unit: str,
    anc: Decimal | None = None,
    wbc: Decimal | None = None,
    neutrophil_pct: Decimal | None = None,
    band_pct: Decimal | None = None,
    accession: str = "",
    lln: Decimal | None = None,
    qualifier: str = "",
) -> CountInput:
    """Validate a count as entered and return it in 10^9/L, or raise ClinicalValueError.

    Either the ANC is given, or a WBC with the neutrophil % (and optionally band %),
    from which the ANC is computed. When both are given they must agree that ANC <= WBC.
    A censored value ("<0.1") comes as its bound with `qualifier` "<" or ">".
    """
    if qualifier not in ("", clinical.QUALIFIER_BELOW, clinical.QUALIFIER_ABOVE):
        raise clinical.ClinicalValueError(f"unknown qualifier {qualifier!r}: use <, > or nothing")
    canonical_unit = clinical.normalise_count_unit(unit)
    wbc_1e9 = clinical.count_to_1e9_per_l(wbc, canonical_unit, what="WBC") if wbc is not None else None
    if anc is not None:
        anc_1e9 = clinical.count_to_1e9_per_l(anc, canonical_unit)
        computed, entered = False, anc
        if neutrophil_pct is not None:
            clinical.anc_from_differential(Decimal(0), neutrophil_pct, band_pct)  # range checks only
    elif wbc is not None and neutrophil_pct is not None:
        anc_1e9 = clinical.anc_from_differential(wbc_1e9, neutrophil_pct, band_pct)
        computed, entered = True, wbc
    else:
        raise clinical.ClinicalValueError("give the ANC, or the WBC with the neutrophil %")
    if wbc_1e9 is not None and anc_1e9 > wbc_1e9:
        raise clinical.ClinicalValueError(f"ANC {anc_1e9} is above WBC {wbc_1e9} (x10^9/L)")
    if anc_1e9 > clinical.MAX_PLAUSIBLE_ANC:
        raise clinical.ClinicalValueError(f"ANC {anc_1e9} x10^9/L is not plausible")
    return CountInput(
        collected_at=collected_at,
        anc_1e9_per_l=anc_1e9,
        anc_computed=computed,
        entered_value=f"{qualifier}{entered}",
        entered_unit=canonical_unit,
        wbc_1e9_per_l=wbc_1e9,
        neutrophil_pct=neutrophil_pct,
        band_pct=band_pct,
        accession=(accession or "").strip(),
        lln_1e9_per_l=lln,
        qualifier=qualifier,
    )


def record_counts(
    patient: Patient, counts: list[CountInput], *, source: str = Source.MANUAL, user=None
) -> list[CountResult]:
    """Store counts for one patient; a count already stored (same accession, or same time and value) is skipped.

    Returns the counts created. One recompute per affected cycle, however many rows.
    """
    now = timezone.now()
    created = []
    with transaction.atomic():
        existing, unkeyed = set(), set()
        stored = CountResult.objects.filter(patient=patient).order_by()
        for accession, *value in stored.values_list("accession", "collected_at", "anc_1e9_per_l", "qualifier"):
            if accession:
                existing.add(accession)
            else:
                unkeyed.add(tuple(value))
        for count in counts:
            key = count.accession or (count.collected_at, count.anc_1e9_per_l, count.qualifier)
            if key in existing or key in unkeyed:
                continue
            (existing if count.accession else unkeyed).add(key)
            created.append(_new_count(patient, count, source, user))
        bulk_create_with_history(created, CountResult, default_user=user)
        if created:
            results_changed({patient.pk: [c.collected_at for c in created]}, now)
    return created


def _new_count(patient: Patient, count: CountInput, source: str, user) -> CountResult:
    result = CountResult(
        patient=patient,
        collected_at=count.collected_at,
        anc_1e9_per_l=count.anc_1e9_per_l,
        qualifier=count.qualifier,
        anc_computed=count.anc_computed,
        wbc_1e9_per_l=count.wbc_1e9_per_l,
        neutrophil_pct=count.neutrophil_pct,
        band_pct=count.band_pct,
        entered_value=count.entered_value,
        entered_unit=count.entered_unit,
        accession=count.accession,
        source=source,
        entered_by=user,
    )
    if count.lln_1e9_per_l is not None:
        result.lln_1e9_per_l = count.lln_1e9_per_l
    # bulk_create skips save(), so grade here as well.
    result.ctcae_grade = clinical.ctcae_grade(result.anc_1e9_per_l, result.lln_1e9_per_l)
    return result


def record_count(patient: Patient, count: CountInput, *, source: str = Source.MANUAL, user=None) -> CountResult | None:
    """Store one count; return None if its accession was already stored (a duplicate)."""
    created = record_counts(patient, [count], source=source, user=user)
    return created[0] if created else None


def correct_count(result: CountResult, count: CountInput, *, user=None) -> CountResult:
    """Replace a stored count's values with a corrected version (history keeps the old one)."""
    now = timezone.now()
    with transaction.atomic():
        moments = [result.collected_at, count.collected_at]
        _apply_correction(result, count)
        results_changed({result.patient_id: moments}, now)
    return result


CORRECTABLE_COUNT_FIELDS = (
    "collected_at",
    "anc_1e9_per_l",
    "qualifier",
    "anc_computed",
    "wbc_1e9_per_l",
    "neutrophil_pct",
    "band_pct",
    "entered_value",
    "entered_unit",
)


def _apply_correction(result: CountResult, count: CountInput) -> None:
    for field in CORRECTABLE_COUNT_FIELDS:
        setattr(result, field, getattr(count, field))
    if count.lln_1e9_per_l is not None:
        result.lln_1e9_per_l = count.lln_1e9_per_l
    result.save()


def delete_result(result: CountResult | GcsfDose | TemperatureReading) -> None:
    """Remove an entry made in error; forecasts that used it are recomputed."""
    now = timezone.now()
    moment = getattr(result, "collected_at", None) or getattr(result, "given_at", None) or result.taken_at
    with transaction.atomic():
        patient_id = result.patient_id
        result.delete()
        results_changed({patient_id: [moment]}, now)


# --- G-CSF and temperature -----------------------------------------------------------------


def record_gcsf(patient: Patient, *, user=None, source: str = Source.MANUAL, **fields) -> GcsfDose | None:
    """Store a G-CSF dose; return None if it was already stored (same external id, or same time and product)."""
    return _record_event(GcsfDose, ("given_at", "product"), patient, user=user, source=source, **fields)


def record_temperature(
    patient: Patient, *, user=None, source: str = Source.MANUAL, **fields
) -> TemperatureReading | None:
    """Store a temperature reading (temperature_c already converted); None if already stored."""
    return _record_event(TemperatureReading, ("taken_at", "temperature_c"), patient, user=user, source=source,
                         **fields)


def _record_event(model, key_fields: tuple[str, str], patient: Patient, *, user, source: str, **fields):
    """Store one dose or reading; None if stored already: its external id, or without one its time and value.

    The database holds the same keys unique (as for counts): a copy committed by a concurrent
    sender after the check makes the insert fail, and this sender succeeds with None.
    """
    now = timezone.now()
    external_id = fields.get("external_id", "")
    key = {"external_id": external_id} if external_id else {"external_id": "", **{f: fields[f] for f in key_fields}}
    with transaction.atomic():
        if model.objects.filter(patient=patient, **key).exists():
            return None
        try:
            with transaction.atomic():
                event = model.objects.create(patient=patient, entered_by=user, source=source, **fields)
        except IntegrityError:
            return None
        results_changed({patient.pk: [getattr(event, key_fields[0])]}, now)
    return event


# --- Courses and cycles ----------------------------------------------------------------------


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
        alerting.evaluate_observed({patient.pk: [first_day1]}, timezone.now())
    return course


def give_cycle_concerns(cycle: Cycle, given_at: datetime) -> list[str]:
    """Return, in words, why recording `cycle` as given at `given_at` may be unsafe (empty if none).

    The "Record given" form asks for an override reason while any of these hold: the last
    pre-dose ANC is below the regimen's threshold, there is no count in the 72 h before day 1,
    a critical alert of the patient is open, or the previous cycle's length has not passed.
    """
    from monitoring.models import Alert

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
        concerns.append(f"The last pre-dose ANC, {pre_dose.anc_1e9_per_l} x10^9/L on "
                        f"{_local(pre_dose.collected_at)}, is below the regimen threshold of {threshold} x10^9/L.")
    for alert in Alert.objects.filter(patient_id=patient_id, severity=Alert.Severity.CRITICAL,
                                      resolved_at__isnull=True).order_by("raised_at"):
        concerns.append(f"A critical alert is open: {alert.get_kind_display()} (raised {_local(alert.raised_at)}).")
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
        alerting.evaluate_observed({cycle.course.patient_id: [given_at]}, timezone.now())
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
        alerting.evaluate_observed({cycle.course.patient_id: [given_at]}, timezone.now())
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
        alerting.evaluate_observed({cycle.course.patient_id: [new_day1]}, timezone.now())
    return cycle


def _this_and_previous(cycle: Cycle) -> list[int]:
    """Return the cycle and the one before it, whose readiness forecast depends on this day 1."""
    return list(
        Cycle.objects.filter(course=cycle.course, number__in=[cycle.number - 1, cycle.number]).values_list(
            "pk", flat=True
        )
    )


# --- Whole-file imports --------------------------------------------------------------------


@dataclass
class ResultBatch:
    """Everything one imported file changes, validated and resolved to patients and stored rows."""

    counts: list[tuple[Patient, CountInput]]
    gcsf: list[tuple[Patient, dict]]
    temperatures: list[tuple[Patient, dict]]
    corrections: list[tuple[CountResult, CountInput]]
    removals: list[CountResult | GcsfDose | TemperatureReading]


def record_batch(batch: ResultBatch, *, source: str, user=None) -> None:
    """Store a whole imported file in one transaction, with one recompute per affected cycle.

    The caller has already dropped duplicates; a row that slips in concurrently raises
    IntegrityError (one accession per patient, or the same unkeyed result) and the whole batch is
    rolled back; the importer then re-plans and finds it a duplicate.
    """
    now = timezone.now()
    moments: dict[int, list[datetime]] = {}

    def touch(patient_id: int, *when: datetime) -> None:
        moments.setdefault(patient_id, []).extend(when)

    # No savepoint of its own: the importer's transaction is the unit (one round trip less per message).
    with transaction.atomic(savepoint=False):
        # Removals first: a corrected dose or temperature is stored again under the same id.
        for result in batch.removals:
            touch(result.patient_id, getattr(result, "collected_at", None) or getattr(result, "given_at", None)
                  or result.taken_at)
            result.delete()
        counts = [_new_count(patient, count, source, user) for patient, count in batch.counts]
        insert_with_history(counts, CountResult, user=user, now=now)
        doses = [GcsfDose(patient=p, entered_by=user, source=source, **fields) for p, fields in batch.gcsf]
        insert_with_history(doses, GcsfDose, user=user, now=now)
        readings = [
            TemperatureReading(patient=p, entered_by=user, source=source, **fields) for p, fields in batch.temperatures
        ]
        insert_with_history(readings, TemperatureReading, user=user, now=now)
        for patient, count in batch.counts:
            touch(patient.pk, count.collected_at)
        for patient, fields in batch.gcsf:
            touch(patient.pk, fields["given_at"])
        for patient, fields in batch.temperatures:
            touch(patient.pk, fields["taken_at"])
        for result, count in batch.corrections:
            touch(result.patient_id, result.collected_at, count.collected_at)
            _apply_correction(result, count)
        results_changed(moments, now)


COPY_FROM_ROWS = 1000


def insert_with_history(objs: list, model, *, user=None, now: datetime) -> None:
    """Insert new rows and their '+' history rows; large PostgreSQL batches go through COPY.

    bulk_create spends most of its time preparing each value in Python; COPY streams the
    rows as they are, which keeps a 100,000-row import within seconds. Primary keys are
    taken from the table's sequence first so the history rows can point at them.
    """
    if not objs:
        return
    if connection.vendor != "postgresql" or len(objs) < COPY_FROM_ROWS:
        bulk_create_with_history(objs, model, batch_size=2000, default_user=user)
        return
    table = model._meta.db_table
    fields = model._meta.concrete_fields
    history = model.history.model
    extra = {"history_date": now, "history_change_reason": None, "history_type": "+",
             "history_user_id": user.pk if user is not None else None}
    history_columns = [f.column for f in history._meta.concrete_fields if f.attname != "history_id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                       [table, len(objs)])
        for obj, (pk,) in zip(objs, cursor.fetchall()):
            obj.pk = pk
            obj._state.adding = False
            for field in fields:
                if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
                    setattr(obj, field.attname, now)
        rows = [[getattr(obj, f.attname) for f in fields] for obj in objs]
        _copy(cursor, table, [f.column for f in fields], rows)
        by_column = [f.attname for f in fields]
        if not set(history_columns) - set(extra) <= set(by_column):
            # A history model with fields we do not know: let simple_history write it.
            history.objects.bulk_history_create(objs, default_user=user, default_date=now)
            return
        picks = [(extra[c], None) if c in extra else (None, by_column.index(c)) for c in history_columns]
        history_rows = [[value if index is None else row[index] for value, index in picks] for row in rows]
        _copy(cursor, history._meta.db_table, history_columns, history_rows)


def _copy(cursor, table: str, columns: list[str], rows: list[list]) -> None:
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def affected_cycle_ids_bulk(moments_by_patient: dict[int, list[datetime]], now: datetime, *,
                            cycles: dict[int, list[Cycle]] | None = None) -> set[int]:
    """Return affected_cycle_ids() for many patients at once, from one query.

    `cycles`: each patient's cycles (every course, cancelled ones left out) if already loaded,
    as alerting.patient_cycles returns them; then no query.
    """
    if cycles is None:
        cycles = alerting.patient_cycles(list(moments_by_patient))
    ids: set[int] = set()
    for patient_id, moments in moments_by_patient.items():
        patient_cycles = sorted(cycles.get(patient_id, []), key=lambda c: c.day1)
        day1s = [c.day1 for c in patient_cycles]
        for moment in set(moments):
            index = bisect.bisect_right(day1s, moment)
            if index:
                ids.add(patient_cycles[index - 1].pk)
        current = current_cycle_of(patient_cycles, now)
        if current is not None:
            ids.add(current.pk)
    return ids


# --- Recompute -----------------------------------------------------------------------------


def recompute_cycle(cycle_id: int, now: datetime | None = None) -> Forecast | None:
    """Recompute and store the cycle's forecast from every input known now.

    Idempotent and safe under concurrency: the stored forecast is replaced only by one
    made from a newer input version, under a row lock, so two recomputes racing for the
    same cycle end with the forecast that saw both results.
    """
    from monitoring import alerting, forecasting, selectors

    cycle = (
        Cycle.objects.select_related("course__regimen__learned_prior", "course__patient").filter(pk=cycle_id).first()
    )
    if cycle is None:
        return None
    version = cycle.input_version  # read before the inputs: a later change bumps it again
    # The clock is read after the version: every input the version counts was saved before
    # `now`, so its time is at most `now + FUTURE_TOLERANCE`, and the history reads that far.
    now = now or timezone.now()
    stored = Forecast.objects.filter(cycle_id=cycle_id).only("input_version", "inputs_digest").first()
    if stored is not None and stored.input_version >= version and version > 0:
        return stored  # a queued duplicate: an earlier task already used these inputs (burst dedup)
    history = selectors.forecast_history(cycle, as_of=now + FUTURE_TOLERANCE)
    learned = _learned_prior_parameters(cycle.course.regimen)
    population = forecasting.population_from_dict(learned) if learned else None
    digest = hashlib.sha256(json.dumps({"history": history, "prior": learned}, sort_keys=True).encode()).hexdigest()

    def run_engine() -> tuple[dict, str]:
        try:
            return forecasting.forecast_history(history, population), ""
        except forecasting.HistoryError as exc:
            return {}, str(exc)

    # Same inputs as the stored forecast (e.g. only a temperature changed): skip the engine.
    result, error = (None, "") if stored is not None and stored.inputs_digest == digest else run_engine()
    with transaction.atomic():
        Cycle.objects.select_for_update().get(pk=cycle_id)
        stored = Forecast.objects.filter(cycle_id=cycle_id).first()
        if stored is not None and stored.input_version > version:
            return stored  # a newer recompute already stored a fresher forecast
        if stored is not None and stored.inputs_digest == digest:
            # Same forecast inputs (e.g. a temperature was saved): mark it fresh, rerun the rules.
            stored.input_version = version
            stored.save(update_fields=["input_version"])
            alerting.evaluate_locked(cycle, stored, now)
            return stored
        if result is None:  # the stored forecast changed under us since the first read
            result, error = run_engine()
        if stored is not None:
            score_forecast(stored, cycle, now)  # before it is replaced: the counts it predicted are in
        forecast = stored or Forecast(cycle=cycle)
        _fill_forecast(
            forecast, result, error, version=version, digest=digest, now=now, n_counts=len(history["counts"])
        )
        forecast.save()
        alerting.evaluate_locked(cycle, forecast, now)
    return forecast


def _learned_prior_parameters(regimen: Regimen) -> dict | None:
    """Return the regimen's learned prior as stored, or None (it keeps its literature prior)."""
    try:
        return regimen.learned_prior.parameters
    except LearnedPrior.DoesNotExist:
        return None


def _fill_forecast(
    forecast: Forecast, result: dict, error: str, *, version: int, digest: str, now: datetime, n_counts: int
) -> None:
    from monitoring.selectors import from_local_iso

    nadir = result.get("nadir") or {}
    readiness = result.get("readiness") or {}
    interval = nadir.get("interval80") or [None, None]
    forecast.input_version = version
    forecast.inputs_digest = digest
    forecast.n_counts = n_counts
    forecast.computed_at = now
    forecast.as_of = now
    forecast.error = error
    forecast.nadir_anc_1e9_per_l = nadir.get("anc")
    forecast.nadir_lo80, forecast.nadir_hi80 = interval
    forecast.nadir_at = from_local_iso(nadir["time"]) if nadir.get("time") else None
    forecast.nadir_day_of_cycle = nadir.get("day_of_cycle")
    forecast.p_grade4 = result.get("p_grade4")
    forecast.p_grade3plus = result.get("p_grade3plus")
    forecast.next_day1 = from_local_iso(readiness["next_day1"]) if readiness.get("next_day1") else None
    forecast.p_ready = readiness.get("p_anc_ge_threshold")
    forecast.ready_threshold_1e9_per_l = readiness.get("threshold")
    forecast.trajectory = result.get("trajectory", [])
    forecast.warnings = result.get("warnings", [])
    if forecast.first_nadir_anc_1e9_per_l is None:
        forecast.first_nadir_anc_1e9_per_l = forecast.nadir_anc_1e9_per_l
    next_count = result.get("next_count") or {}
    forecast.next_fbc_on = from_local_iso(next_count["time"]).date() if next_count.get("time") else None
    forecast.next_fbc_reason = next_count.get("reason", "")


# --- Calibration in the clinic --------------------------------------------------------------

# The trajectory band is the 10th-90th percentile: a log-normal with this many SDs each side.
Z80 = 1.2815515655446004


def score_forecast(forecast: Forecast, cycle: Cycle, now: datetime) -> int:
    """Score a stored forecast against every count collected after it was made; return how many.

    Each count inside the forecast's trajectory gets one ForecastScore (idempotent): inside the
    80 % band or not, the PIT value (the forecast's probability of a count at or below it, reading
    the band as a log-normal), and the log10 error of the median.
    """
    from monitoring.selectors import from_local_iso

    trajectory = forecast.trajectory or []
    if forecast.error or len(trajectory) < 2:
        return 0
    times = [from_local_iso(point["time"]) for point in trajectory]
    counts = CountResult.objects.filter(
        patient_id=cycle.course.patient_id, collected_at__gt=forecast.as_of,
        collected_at__gte=times[0], collected_at__lte=min(times[-1], now),
    )
    scores = [_score(forecast, cycle, count, times, now) for count in counts]
    ForecastScore.objects.bulk_create(scores, ignore_conflicts=True)
    return len(scores)


def _score(forecast: Forecast, cycle: Cycle, count: CountResult, times: list[datetime], now: datetime) -> ForecastScore:
    trajectory = forecast.trajectory
    right = max(1, bisect.bisect_left(times, count.collected_at))
    left = right - 1
    share = (count.collected_at - times[left]) / (times[right] - times[left])

    def log_at(key: str) -> float:
        # Interpolate on the log scale, as the band is log-normal-ish.
        low, high = math.log(trajectory[left][key]), math.log(trajectory[right][key])
        return low + share * (high - low)

    median, lo80, hi80 = (log_at(key) for key in ("anc", "lo80", "hi80"))
    observed = max(float(count.anc_1e9_per_l), 0.001)
    spread = max((hi80 - lo80) / (2 * Z80), 1e-3)
    return ForecastScore(
        cycle=cycle, regimen_id=cycle.course.regimen_id, count=count, forecast_as_of=forecast.as_of,
        horizon_hours=(count.collected_at - forecast.as_of).total_seconds() / 3600,
        observed_anc_1e9_per_l=observed, predicted_anc_1e9_per_l=math.exp(median),
        lo80=math.exp(lo80), hi80=math.exp(hi80), inside80=lo80 <= math.log(observed) <= hi80,
        pit=float(ndtr((math.log(observed) - median) / spread)),
        log10_error=(median - math.log(observed)) / math.log(10),
        p_grade4=forecast.p_grade4, scored_at=now,
    )


def recompute_stale(limit: int = 1000, *, inline: bool = False) -> int:
    """Recompute every stale cycle and re-publish pending deliveries; return how many cycles were found.

    By default the recomputes are enqueued for the workers; with `inline=True`, or when the
    broker cannot be reached, they run here, one after the other, so the sweeper catches up
    even while Redis is down.
    """
    from monitoring import alerting, selectors

    ids = selectors.stale_cycle_ids(limit)
    published = 0 if inline else enqueue_recomputes(ids)
    for cycle_id in ids[published:]:
        recompute_cycle(cycle_id)
    # Deliveries whose task was lost with the broker go out again too (issue 16).
    alerting.redispatch_pending()
    return len(ids)


def learn_regimen_priors(now: datetime | None = None) -> dict[str, int]:
    """Learn each regimen's forecast prior from its patients' counts; return {code: patients}.

    Every course on the regimen gives one history: its latest started cycle, with everything
    known now. A regimen with too few patients (``forecasting.population.MIN_PATIENTS``) keeps
    its literature prior, and loses a learned one it had. When a regimen's prior changes, the
    forecasts of its active cycles become stale and are recomputed (enqueued on commit; the
    stale sweeper catches up if the broker is down).
    """
    from monitoring import forecasting, selectors

    now = now or timezone.now()
    learned: dict[str, int] = {}
    for regimen in Regimen.objects.all():
        histories = [selectors.forecast_history(cycle, as_of=now) for cycle in selectors.learning_cycles(regimen, now)]
        populations = forecasting.learn_populations(histories)
        population = populations.get(forecasting.regimen_key(histories[0])) if histories else None
        with transaction.atomic():
            stored = LearnedPrior.objects.select_for_update().filter(regimen=regimen).first()
            if population is None:
                if stored is None:
                    continue
                stored.delete()
            else:
                learned[regimen.code] = population.patients
                parameters = forecasting.population_to_dict(population)
                if stored is not None and stored.parameters == parameters:
                    continue
                LearnedPrior.objects.update_or_create(
                    regimen=regimen,
                    defaults={"parameters": parameters, "patients": population.patients,
                              "informative": population.informative, "learned_at": now},
                )
            ids = list(
                Cycle.objects.filter(course__regimen=regimen, course__active=True)
                .exclude(status=Cycle.Status.CANCELLED)
                .values_list("pk", flat=True)
            )
            Cycle.objects.filter(pk__in=ids).update(input_version=F("input_version") + 1, inputs_changed_at=Now())
            transaction.on_commit(lambda ids=ids: enqueue_recomputes(ids))
    return learned


# --- Alerts --------------------------------------------------------------------------------


def acknowledge_alert(alert_id: int, user, note: str, now: datetime | None = None,
                      antibiotics_given_at: datetime | None = None) -> bool:
    """Acknowledge an open alert with a note; return False if it was already acknowledged.

    An alert whose condition has cleared (`cleared_at`) is resolved by its acknowledgement.

    A conditional update, so two nurses acknowledging at once record one acknowledgement.
    `antibiotics_given_at` (febrile neutropenia) feeds the time-to-antibiotic figure.
    """
    from monitoring.models import Alert

    now = now or timezone.now()
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert_id, acknowledged_at__isnull=True).update(
            acknowledged_at=now, acknowledged_by=user, acknowledgement_note=note.strip(),
            antibiotics_given_at=antibiotics_given_at,
        )
        # A critical alert whose condition has already cleared was kept open for this: close it.
        Alert.objects.filter(pk=alert_id, cleared_at__isnull=False, resolved_at__isnull=True).update(resolved_at=now)
    return bool(updated)

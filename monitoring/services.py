"""Write paths: every change to clinical data goes through a function here.

Each function changes state in one transaction, bumps the input version of every
cycle whose forecast the change affects, and enqueues one recompute per affected
cycle when the transaction commits. Saving never fails because the broker is down:
the cycle stays stale and `recompute_stale` (also a beat job) catches up.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring import clinical
from monitoring.models import (
    ChemoAdministration,
    CountResult,
    Cycle,
    Forecast,
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


# --- Which cycles a change touches -------------------------------------------------------


def affected_cycle_ids(patient_id: int, moments: Iterable[datetime], now: datetime) -> set[int]:
    """Return the cycles whose forecast depends on inputs at `moments`.

    That is the cycle each input falls in, and the patient's current cycle, whose
    forecast learns from every earlier count. One query.
    """
    return affected_cycle_ids_bulk({patient_id: list(moments)}, now)


def mark_inputs_changed(cycle_ids: Iterable[int]) -> None:
    """Bump the cycles' input versions and enqueue one recompute each on commit."""
    cycle_ids = sorted(set(cycle_ids))
    if not cycle_ids:
        return
    Cycle.objects.filter(pk__in=cycle_ids).update(input_version=F("input_version") + 1)
    transaction.on_commit(lambda: enqueue_recomputes(cycle_ids))


def enqueue_recomputes(cycle_ids: Iterable[int]) -> int:
    """Publish recompute tasks; if the broker is unreachable, log it and rely on the sweeper.

    Returns how many were published. Publishing retries once after 0.1 s, then gives up
    (tens of milliseconds with the broker down), so a save is never held up for long.
    """
    from monitoring import alerting, tasks

    published = 0
    for cycle_id in cycle_ids:
        try:
            tasks.recompute_cycle.apply_async((cycle_id,), **alerting.FAST_PUBLISH)
        except Exception:  # kombu raises OperationalError and friends; the save must stand.
            log.warning("broker unreachable: cycle %s left stale for recompute_stale", cycle_id)
            return published
        published += 1
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
        stored = CountResult.objects.filter(patient=patient)
        existing = set(stored.exclude(accession="").values_list("accession", flat=True))
        unkeyed = set(stored.filter(accession="").values_list("collected_at", "anc_1e9_per_l", "qualifier"))
        for count in counts:
            key = count.accession or (count.collected_at, count.anc_1e9_per_l, count.qualifier)
            if key in existing or key in unkeyed:
                continue
            (existing if count.accession else unkeyed).add(key)
            created.append(_new_count(patient, count, source, user))
        bulk_create_with_history(created, CountResult, default_user=user)
        mark_inputs_changed(affected_cycle_ids(patient.pk, [c.collected_at for c in created], now))
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
        mark_inputs_changed(affected_cycle_ids(result.patient_id, moments, now))
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
        mark_inputs_changed(affected_cycle_ids(patient_id, [moment], now))


# --- G-CSF and temperature -----------------------------------------------------------------


def record_gcsf(patient: Patient, *, user=None, source: str = Source.MANUAL, **fields) -> GcsfDose | None:
    """Store a G-CSF dose; return None if the same external id was already stored."""
    return _record_event(GcsfDose, "given_at", patient, user=user, source=source, **fields)


def record_temperature(
    patient: Patient, *, user=None, source: str = Source.MANUAL, **fields
) -> TemperatureReading | None:
    """Store a temperature reading (temperature_c already converted); None if a duplicate."""
    return _record_event(TemperatureReading, "taken_at", patient, user=user, source=source, **fields)


def _record_event(model, time_field: str, patient: Patient, *, user, source: str, **fields):
    now = timezone.now()
    with transaction.atomic():
        external_id = fields.get("external_id", "")
        if external_id and model.objects.filter(source=source, external_id=external_id).exists():
            return None
        event = model.objects.create(patient=patient, entered_by=user, source=source, **fields)
        mark_inputs_changed(affected_cycle_ids(patient.pk, [getattr(event, time_field)], now))
    return event


# --- Courses and cycles ----------------------------------------------------------------------


def start_course(patient: Patient, regimen, first_day1: datetime, n_cycles: int) -> TreatmentCourse:
    """Create a course with `n_cycles` planned cycles, one cycle length apart."""
    with transaction.atomic():
        TreatmentCourse.objects.filter(patient=patient, active=True).update(active=False)
        course = TreatmentCourse.objects.create(patient=patient, regimen=regimen, started_on=first_day1.date())
        Cycle.objects.bulk_create(
            Cycle(course=course, number=n + 1, planned_day1=first_day1 + timedelta(days=n * regimen.cycle_length_days))
            for n in range(n_cycles)
        )
        mark_inputs_changed(course.cycles.values_list("pk", flat=True)[:1])
    return course


def give_cycle(cycle: Cycle, given_at: datetime, dose_fraction: Decimal = Decimal("1.00")) -> Cycle:
    """Record the day-1 chemotherapy of a cycle as given."""
    with transaction.atomic():
        cycle.actual_day1 = given_at
        cycle.status = Cycle.Status.GIVEN
        cycle.save()
        ChemoAdministration.objects.create(cycle=cycle, day_of_cycle=1, given_at=given_at, dose_fraction=dose_fraction)
        mark_inputs_changed(_this_and_previous(cycle))
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
        mark_inputs_changed(affected_cycle_ids_bulk(moments, now))


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


def affected_cycle_ids_bulk(moments_by_patient: dict[int, list[datetime]], now: datetime) -> set[int]:
    """Return affected_cycle_ids() for many patients at once, from one query."""
    by_patient: dict[int, list[Cycle]] = {}
    cycles = (
        Cycle.objects.filter(course__patient_id__in=list(moments_by_patient))
        .exclude(status=Cycle.Status.CANCELLED)
        .select_related("course__regimen")
    )
    for cycle in cycles:
        by_patient.setdefault(cycle.course.patient_id, []).append(cycle)
    ids: set[int] = set()
    for patient_id, moments in moments_by_patient.items():
        patient_cycles = sorted(by_patient.get(patient_id, []), key=lambda c: c.day1)
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

    now = now or timezone.now()
    cycle = (
        Cycle.objects.select_related("course__regimen__learned_prior", "course__patient").filter(pk=cycle_id).first()
    )
    if cycle is None:
        return None
    version = cycle.input_version  # read before the inputs: a later change bumps it again
    stored = Forecast.objects.filter(cycle_id=cycle_id).only("input_version", "inputs_digest").first()
    if stored is not None and stored.input_version >= version and version > 0:
        return stored  # a queued duplicate: an earlier task already used these inputs (burst dedup)
    history = selectors.forecast_history(cycle, as_of=now)
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


def recompute_stale(limit: int = 1000, *, inline: bool = False) -> int:
    """Recompute every stale cycle; return how many were found.

    By default the recomputes are enqueued for the workers; with `inline=True`, or when the
    broker cannot be reached, they run here, one after the other, so the sweeper catches up
    even while Redis is down.
    """
    from monitoring import selectors

    ids = selectors.stale_cycle_ids(limit)
    published = 0 if inline else enqueue_recomputes(ids)
    for cycle_id in ids[published:]:
        recompute_cycle(cycle_id)
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
            Cycle.objects.filter(pk__in=ids).update(input_version=F("input_version") + 1)
            transaction.on_commit(lambda ids=ids: enqueue_recomputes(ids))
    return learned


# --- Alerts --------------------------------------------------------------------------------


def acknowledge_alert(alert_id: int, user, note: str, now: datetime | None = None) -> bool:
    """Acknowledge an open alert with a note; return False if it was already acknowledged.

    A conditional update, so two nurses acknowledging at once record one acknowledgement.
    """
    from monitoring.models import Alert

    now = now or timezone.now()
    updated = Alert.objects.filter(pk=alert_id, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=user, acknowledgement_note=note.strip()
    )
    return bool(updated)

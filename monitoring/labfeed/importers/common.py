"""From parsed lab records to one service call: validation, patients, duplicates and the report.

Every format parser turns a file into plain records (`CountRecord`, `GcsfRecord`,
`TemperatureRecord`, see `records.py`) and problems, each tagged with its unit of acceptance
(a CSV row, an HL7 message, a FHIR entry or panel). `import_parsed` validates every record
(units, magnitude, times, MRNs), decides what is new, a duplicate, a correction or a removal,
stores every good unit in one batch (`records.batches.record_batch`) and keeps every bad unit in the
bad unit stores nothing.

Duplicates. A lab accession number (or FHIR resource id, HL7 filler order number)
identifies one result wherever it came from, so an accession already stored for the
same patient is a duplicate whatever its source (file import, API, MLLP, or typed in by a
nurse): the same CBC sent by file and by the API is one count. The same accession with another
value is a correction candidate, kept for review; stored for another patient, it is an error.
A record without an accession is a duplicate when the patient already has a count at the same
time with the same ANC (a G-CSF dose of the same product at the same time; a temperature of the
same value at the same time). Database constraints enforce both for counts.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from monitoring import clinical
from monitoring.forecasts.inputs import FUTURE_TOLERANCE
from monitoring.labfeed.importers.planner import _Planner
from monitoring.labfeed.importers.records import (
    UNKNOWN_MRN,
    CountRecord,
    FieldError,
    ImportReport,
    Parsed,
    Record,
    unit_of,
)
from monitoring.labfeed.importers.scope import Scope, in_scope, patients_by_mrn
from monitoring.labfeed.importers.validation import _validate, when_of
from monitoring.models import CountResult, Patient
from monitoring.records import batches

IMPORT_ATTEMPTS = 3


def import_parsed(
    name: str, fmt: str, parsed: Parsed, *, source: str, user=None, scope: Scope | None = None,
    now: datetime | None = None, all_or_nothing: bool = False, quarantine: bool = True, delta_check: bool = True,
) -> ImportReport:
    """Store every good unit of a file (row, message, entry) and keep every bad one for review.

    With `all_or_nothing`, a file with any bad unit stores nothing and keeps nothing (a hand-made
    file the user will correct). Good units are stored in one batch, in one transaction, with the
    bad ones written to the exceptions queue in the same transaction. A unique-constraint clash with
    a concurrent import of the same results rolls back and re-plans: the rows the other import
    committed are then duplicates, so every identical sender gets success. With `delta_check`
    (default), a count that looks like a unit mistake is kept for a person to confirm.
    """
    now = now or timezone.now()
    scope = scope or Scope()
    for _attempt in range(IMPORT_ATTEMPTS):
        report = _new_report(name, fmt, parsed, all_or_nothing)
        if any(not problem.unit for problem in report.problems):
            return report  # unreadable as a whole: there are no records to take one by one
        try:
            with transaction.atomic():
                _import(report, parsed, source=source, user=user, scope=scope, now=now, quarantine=quarantine,
                        fmt=fmt, delta_check=delta_check)
            return report
        except IntegrityError:
            continue
        except DataError as exc:  # a value the checks above let through but a column cannot hold
            report = _new_report(name, fmt, parsed, all_or_nothing)
            report.add("file", "value", f"a value does not fit the database: {str(exc).splitlines()[0]}")
            return report
    report = _new_report(name, fmt, parsed, all_or_nothing)
    report.add("file", "accession", "the same results were being imported at the same moment; try again")
    return report


def _new_report(name: str, fmt: str, parsed: Parsed, all_or_nothing: bool) -> ImportReport:
    report = ImportReport(file=name, format=fmt, held_back=list(parsed.held_back), ignored=parsed.ignored,
                          all_or_nothing=all_or_nothing)
    for where, field_name, reason, unit in parsed.problems:
        report.add(where, field_name, reason, unit=unit)
    if not parsed.records and not parsed.problems and not parsed.held_back:
        report.add("file", "content", "no results found")
    return report


def _import(report: ImportReport, parsed: Parsed, *, source: str, user, scope: Scope, now: datetime,
            quarantine: bool, fmt: str, delta_check: bool = True) -> None:
    patients = patients_by_mrn({r.mrn for r in parsed.records})
    checked = _checked(parsed.records, patients, report, scope, now, delta_check)
    if report.refused:
        return
    bad = report.bad_units()
    while True:  # re-plan until the planner finds no new bad unit (a conflict excludes its unit)
        report.reset_counts()
        batch = batches.ResultBatch(counts=[], gcsf=[], temperatures=[], corrections=[], removals=[])
        _Planner(batch, report, scope.team_ids).plan([item for item in checked if unit_of(item[0]) not in bad])
        if report.bad_units() <= bad:
            break
        bad = report.bad_units()
    if report.refused:
        return
    batches.record_batch(batch, source=source, user=user)
    if quarantine and bad:
        from monitoring.labfeed.importers.quarantine import quarantine

        quarantine(report, parsed, bad, patients, scope=scope, source=source, user=user, now=now, fmt=fmt)


def _checked(records: list[Record], patients: dict[str, Patient], report: ImportReport, scope: Scope,
             now: datetime, delta_check: bool = True) -> list[tuple]:
    checked = []
    for record in records:
        patient = _patient_for(record, patients, report, scope)
        try:
            value = _validate(record)
            if patient is not None:
                _check_time(record, patient, now)
        except FieldError as exc:
            report.add(record.where, exc.field, exc.reason, unit=unit_of(record))
            continue
        if patient is not None:
            checked.append((record, patient, value))
    return _hold_unlikely_counts(checked, report) if delta_check else checked


def _hold_unlikely_counts(checked: list[tuple], report: ImportReport) -> list[tuple]:
    """Keep back, for a person to confirm, a count that looks like a unit or decimal mistake.

    The delta check of the count form (clinical.count_needs_confirmation), against the patient's
    previous count of the last 48 h, stored or earlier in the same file. A censored value ("<0.1")
    is the laboratory's own statement and is not held. One query for the whole file.
    """
    counts = [item for item in checked if isinstance(item[0], CountRecord) and item[2] is not None
              and not item[2].qualifier]
    if not counts:
        return checked
    earliest = min(value.collected_at for _, _, value in counts) - clinical.DELTA_WITHIN
    # Each patient's counts in time order (times and values side by side, for bisect): the previous
    # count is found in log time, so a file of many counts per patient is not quadratic.
    times: dict[int, list[datetime]] = {}
    values: dict[int, list] = {}
    already_stored = set()  # a result sent again is a duplicate, not a new value to confirm
    stored = CountResult.objects.filter(patient_id__in={patient.pk for _, patient, _ in counts},
                                        collected_at__gte=earliest)
    for patient_id, collected_at, anc in stored.order_by("collected_at", "pk").values_list(
            "patient_id", "collected_at", "anc_1e9_per_l"):
        times.setdefault(patient_id, []).append(collected_at)
        values.setdefault(patient_id, []).append(anc)
        already_stored.add((patient_id, collected_at, anc))
    held = set()
    # In time order, so a count held back is never the "previous count" of the file's next one.
    for item in sorted(counts, key=lambda item: item[2].collected_at):
        record, patient, value = item
        if (patient.pk, value.collected_at, value.anc_1e9_per_l) in already_stored:
            continue
        at, anc = times.setdefault(patient.pk, []), values.setdefault(patient.pk, [])
        before = bisect.bisect_left(at, value.collected_at)  # counts strictly earlier than this one
        previous = anc[before - 1] if before and at[before - 1] >= value.collected_at - clinical.DELTA_WITHIN \
            else None
        reason = clinical.count_needs_confirmation(value.anc_1e9_per_l, previous)
        if reason:
            report.add(record.where, "anc", f"held for confirmation: {reason}", unit=unit_of(record))
            held.add(id(item))
        else:
            place = bisect.bisect_right(at, value.collected_at)
            at.insert(place, value.collected_at)
            anc.insert(place, value.anc_1e9_per_l)
    return [item for item in checked if id(item) not in held]


def _patient_for(record: Record, patients: dict[str, Patient], report: ImportReport, scope: Scope):
    unit = unit_of(record)
    if not record.mrn:
        report.add(record.where, "mrn", "the MRN is missing", unit=unit)
        return None
    patient = patients.get(record.mrn)
    outside = patient is not None and not in_scope(patient, scope)
    if patient is None or (outside and not scope.reveal):
        where = " in your teams" if scope.team_ids is not None else ""
        report.add(record.where, "mrn", f"unknown MRN {record.mrn!r}: not found{where}; register the patient, "
                   "then re-try", unit=unit, kind=UNKNOWN_MRN)
        return None
    if outside:
        report.add(record.where, "mrn", f"patient {record.mrn} is not in the teams this token may write to",
                   forbidden=True, unit=unit)
        return None
    return patient


def _check_time(record: Record, patient: Patient, now: datetime) -> None:
    moment = when_of(record)
    if moment is None:
        raise FieldError(record.time_field, "the time is missing")
    if moment > now + FUTURE_TOLERANCE:
        raise FieldError(record.time_field, f"{timezone.localtime(moment):%Y-%m-%d %H:%M} is in the future")
    # Only a time within a day of the birth date needs the clinic's calendar date (localtime is slow).
    if moment.date() <= patient.date_of_birth + timedelta(days=1) and \
            timezone.localtime(moment).date() < patient.date_of_birth:
        raise FieldError(record.time_field, f"{timezone.localtime(moment):%Y-%m-%d} is before the patient's birth")

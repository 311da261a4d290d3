"""The exceptions queue's side of an import: each bad unit of acceptance becomes an ImportException.

The raw text as received, where it came from, the problems in words and the values for the fix
form. The same bad record sent again joins its open exception instead of making another.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring.labfeed.importers import codes
from monitoring.labfeed.importers.csv_format import row_values
from monitoring.labfeed.importers.records import (
    CONFLICT,
    CORRECTION,
    FINAL,
    INVALID,
    REMOVAL,
    UNKNOWN_MRN,
    CountRecord,
    GcsfRecord,
    ImportReport,
    Parsed,
    Problem,
    RawUnit,
    Record,
    unit_of,
)
from monitoring.labfeed.importers.scope import Scope, in_scope, patients_by_mrn
from monitoring.labfeed.importers.validation import when_of
from monitoring.models import ImportException, Patient


def quarantine(report: ImportReport, parsed: Parsed, bad: set[str], patients: dict[str, Patient], *,
                scope: Scope, source: str, user, now: datetime, fmt: str) -> None:
    """Keep each bad unit in the exceptions queue (once: a re-sent bad record joins its open exception)."""
    records: dict[str, list[Record]] = {}
    for record in parsed.records:
        records.setdefault(unit_of(record), []).append(record)
    problems: dict[str, list[Problem]] = {}
    for problem in report.problems:
        problems.setdefault(problem.unit, []).append(problem)
    order = {unit: index for index, unit in enumerate(parsed.units)}
    units = sorted(bad, key=lambda unit: order.get(unit, len(order)))
    # A row unreadable before it became a record still names its patient (in its values).
    # Records' MRNs were all looked up already, found or not (so an unknown MRN costs no extra query).
    unread = {_unit_mrn(parsed.units.get(u), fmt) for u in units} - {r.mrn for r in parsed.records} - {""}
    patients = {**patients, **patients_by_mrn(unread)} if unread else patients
    exceptions = [_exception(unit, parsed.units.get(unit), records.get(unit, []), problems[unit], patients,
                             scope=scope, source=source, user=user, now=now, fmt=fmt, file=report.file)
                  for unit in units]
    already = dict(ImportException.objects.filter(
        status=ImportException.Status.OPEN, raw_digest__in=[e.raw_digest for e in exceptions],
    ).values_list("raw_digest", "pk"))
    new = {}
    for exception in exceptions:
        if exception.raw_digest not in already:
            new.setdefault(exception.raw_digest, exception)
    bulk_create_with_history(list(new.values()), ImportException, default_user=user)
    if new:  # a grade 3-4 count of a known patient kept here raises "count held for review"
        from monitoring import alerts

        alerts.evaluate_held({e.patient_id for e in new.values()}, now)
        alerts.alert_unregistered(list(new.values()), now)  # no patient: told to the named list
    for exception in exceptions:
        stored = new.get(exception.raw_digest)
        report.kept.append({
            "where": exception.location,
            "problems": exception.problems,
            "exception_id": stored.pk if stored is not None else already.get(exception.raw_digest),
        })


def _unit_mrn(raw_unit: RawUnit | None, fmt: str) -> str:
    if raw_unit is None:
        return ""
    if fmt == "csv" and "mrn" not in raw_unit.values:
        return row_values(raw_unit.raw).get("mrn", "")
    return raw_unit.values.get("mrn", "")


def _exception(unit: str, raw_unit: RawUnit | None, records: list[Record], problems: list[Problem],
               patients: dict[str, Patient], *, scope: Scope, source: str, user, now: datetime, fmt: str,
               file: str):
    raw = raw_unit.raw if raw_unit is not None else unit
    values = dict(raw_unit.values) if raw_unit is not None else {}
    if fmt == "csv":
        values = {**row_values(raw), **values}
    for record in records:
        for key, value in record_values(record).items():
            values.setdefault(key, value)
    mrn = next((r.mrn for r in records if r.mrn), values.get("mrn", ""))[:64]
    patient = patients.get(mrn)
    patient = patient if in_scope(patient, scope) else None
    kinds = {p.kind for p in problems}
    kind = CONFLICT if CONFLICT in kinds else UNKNOWN_MRN if kinds == {UNKNOWN_MRN} else INVALID
    return ImportException(
        source=source, format=fmt, file_name=file[:200], location=unit[:200], raw=raw,
        raw_digest=ImportException.digest(fmt, raw), values=values,
        problems=[{"where": p.where, "field": p.field, "reason": p.reason} for p in problems],
        kind=kind, mrn=mrn, patient=patient,
        team_id=patient.team_id if patient is not None else scope.home_team_id,
        sender=scope.sender[:200], received_at=now, received_by=user,
    )


def record_values(record: Record) -> dict[str, str]:
    """Return a record's values under the CSV column names (the fix form's fields)."""
    moment = when_of(record)
    values = {"mrn": record.mrn, "collected_at": timezone.localtime(moment).isoformat() if moment else ""}
    if isinstance(record, CountRecord):
        values["accession"] = record.accession
        for role, measured in record.values.items():
            values[role] = f"{measured.qualifier}{measured.value}"
            if role in codes.COUNT_ROLES:
                values["unit"] = measured.unit
    elif isinstance(record, GcsfRecord):
        values.update(gcsf_product=record.product_text, gcsf_dose=str(record.dose or ""),
                      gcsf_dose_unit=record.dose_unit, gcsf_route=record.route, accession=record.external_id)
    else:
        values.update(temperature=str(record.value or ""), temperature_unit=record.unit,
                      temperature_site=record.site, accession=record.external_id)
    if record.status != FINAL:
        values["status"] = {CORRECTION: "corrected", REMOVAL: "entered-in-error"}[record.status]
    return {key: value for key, value in values.items() if value}

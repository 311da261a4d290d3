"""From parsed lab records to one service call: validation, patients, duplicates and the report.

Every format parser turns a file into plain records (`CountRecord`, `GcsfRecord`,
`TemperatureRecord`, see `records.py`) and problems, each tagged with its unit of acceptance
(a CSV row, an HL7 message, a FHIR entry or panel). `import_parsed` validates every record
(units, magnitude, times, MRNs), decides what is new, a duplicate, a correction or a removal,
stores every good unit in one batch (`services.record_batch`) and keeps every bad unit in the
exceptions queue (`quarantine.py`), in one transaction. With `all_or_nothing`, a file with any
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from monitoring import clinical, services
from monitoring.guards.text import record_control_character
from monitoring.importers import codes
from monitoring.importers.records import (  # noqa: F401  (parsers and callers import them from here)
    CONFLICT,
    CORRECTION,
    FINAL,
    INVALID,
    MAX_ENTERED_LENGTH,
    MAX_ID_LENGTH,
    REMOVAL,
    UNKNOWN_MRN,
    CountRecord,
    FieldError,
    GcsfRecord,
    ImportReport,
    Measured,
    Parsed,
    Problem,
    RawUnit,
    Record,
    SourceLines,
    TemperatureRecord,
    unit_of,
)
from monitoring.models import CountResult, GcsfDose, Patient, TemperatureReading

FUTURE_TOLERANCE = services.FUTURE_TOLERANCE  # an analyser clock a few minutes fast is not an error
LOOKUP_CHUNK = 5000

# --- Times ---------------------------------------------------------------------------------


def aware(moment: datetime, field_name: str = "time") -> datetime:
    """Return `moment` with the clinic's zone if it came without one.

    A clinic-local time that does not exist (skipped when the clocks go forward) or exists twice
    (when they go back) is refused: guessing could place a count an hour off, before or after a dose.
    """
    if not timezone.is_naive(moment):
        return moment
    zone = timezone.get_default_timezone()
    first, second = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        what = "does not exist (the clocks went forward)" if round_trip != moment else \
            "happened twice (the clocks went back)"
        raise FieldError(field_name, f"{moment:%Y-%m-%d %H:%M} {what} in {zone}; give the UTC offset, "
                                     f"e.g. {moment:%Y-%m-%dT%H:%M}+01:00")
    return first


def parse_iso_time(text: str, field_name: str) -> datetime:
    """Return an aware datetime from ISO-8601 text; clinic-local time unless a zone is given."""
    text = (text or "").strip()
    if len(text) <= 10:
        raise FieldError(field_name, f"{text!r} is not a date and time (e.g. 2024-05-01T08:30)" if text
                         else "the time is missing")
    if not text.isascii():
        raise FieldError(field_name, f"{text[:40]!r} is not an ISO-8601 date and time (e.g. 2024-05-01T08:30)")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(field_name, f"{text!r} is not an ISO-8601 date and time (e.g. 2024-05-01T08:30)") from None
    return aware(moment, field_name)


def decimal_field(text: str, field_name: str) -> Decimal | None:
    """Return the number in `text`, None if blank, or raise naming the field."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return clinical.to_decimal(text, field_name)
    except clinical.ClinicalValueError as exc:
        raise FieldError(field_name, str(exc)) from None


def censored_field(text: str, field_name: str) -> tuple[str, Decimal] | None:
    """Return (qualifier, number) for a lab value that may be censored ("<0.1"), None if blank."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return clinical.to_censored_decimal(text, field_name)
    except clinical.ClinicalValueError as exc:
        raise FieldError(field_name, str(exc)) from None


# --- Validation: record -> service input -----------------------------------------------------


def _clinical(field_name: str, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except clinical.ClinicalValueError as exc:
        raise FieldError(field_name, str(exc)) from None


def to_count_input(record: CountRecord) -> services.CountInput:
    """Validate a count record and return it in 10^9/L, or raise FieldError."""
    values = record.values
    for measured in values.values():  # FHIR numbers arrive as Decimals: still finite and of sane size
        _clinical(measured.field, clinical.to_decimal, measured.value, measured.field)
    anc, wbc = values.get(codes.ANC), values.get(codes.WBC)
    percents = {role: values.get(role) for role in codes.PERCENT_ROLES}
    for measured in percents.values():
        if measured is not None:
            _clinical(measured.unit_field, codes.check_percent_unit, measured.unit)
    main = anc or wbc
    if main is None:
        raise FieldError("anc", "give the ANC, or the WBC with the neutrophil %")
    for measured in (wbc if anc is not None else None, *percents.values()):
        if measured is not None and measured.qualifier:
            raise FieldError(measured.field, f"{measured.qualifier}{measured.value} is censored; only the ANC "
                                             "(or the WBC it is computed from) may be")
    unit = _clinical(main.unit_field, clinical.normalise_count_unit, main.unit)
    wbc_in_unit = None
    if wbc is not None:
        _clinical(wbc.unit_field, clinical.normalise_count_unit, wbc.unit)
        wbc_1e9 = _clinical(wbc.field, clinical.count_to_1e9_per_l, wbc.value, wbc.unit, what="WBC")
        wbc_in_unit = wbc_1e9 / clinical.COUNT_UNITS[unit]
    if anc is not None:
        _clinical(anc.field, clinical.count_to_1e9_per_l, anc.value, unit)
    if len(record.accession) > MAX_ID_LENGTH:
        raise FieldError("accession", f"longer than {MAX_ID_LENGTH} characters")
    if len(str(main.value)) > MAX_ENTERED_LENGTH:
        raise FieldError(main.field, f"{main.value} has more digits than a lab reports")
    npct, bpct = percents[codes.NEUTROPHIL_PCT], percents[codes.BAND_PCT]
    return _clinical(
        "count", services.parse_count,
        collected_at=record.collected_at, unit=unit,
        anc=anc.value if anc else None, wbc=wbc_in_unit,
        neutrophil_pct=npct.value if npct else None, band_pct=bpct.value if bpct else None,
        accession=record.accession, qualifier=main.qualifier,
    )


def to_gcsf_fields(record: GcsfRecord) -> dict:
    product = _clinical("product", clinical.gcsf_product, record.product_text)
    if record.dose is None:
        raise FieldError("dose", "the dose is missing")
    dose_unit = _clinical("dose unit", codes.gcsf_dose_unit, record.dose_unit)
    dose = _clinical("dose", clinical.check_gcsf_dose, _clinical("dose", clinical.to_decimal, record.dose, "dose"),
                     dose_unit)
    if len(record.external_id) > MAX_ID_LENGTH:
        raise FieldError("id", f"longer than {MAX_ID_LENGTH} characters")
    return {
        "product": product,
        "product_name": record.product_text.strip()[:80],
        "dose": dose,
        "dose_unit": dose_unit,
        "route": _clinical("route", codes.route, record.route),
        "given_at": record.given_at,
        "external_id": record.external_id,
    }


def to_temperature_fields(record: TemperatureRecord) -> dict:
    if record.value is None:
        raise FieldError("temperature", "the temperature is missing")
    value = _clinical("temperature", clinical.to_decimal, record.value, "temperature")
    celsius = _clinical("temperature", clinical.to_celsius, value, record.unit)
    if len(record.external_id) > MAX_ID_LENGTH:
        raise FieldError("id", f"longer than {MAX_ID_LENGTH} characters")
    unit = "F" if record.unit.strip().lower() in ("f", "[degf]", "°f", "degf") else "C"
    return {
        "taken_at": record.taken_at,
        "temperature_c": celsius,
        "entered_value": str(record.value)[:20],
        "entered_unit": unit,
        "site": record.site,
        "external_id": record.external_id,
    }


def when_of(record: Record) -> datetime | None:
    return getattr(record, record.time_field)


def _validate(record: Record):
    """Return the service input for a record (None for a removal, which needs no values)."""
    if record.status == REMOVAL:
        return None
    if (bad := record_control_character(record)) is not None:  # issue 25: refused with a word, not stored
        raise FieldError(*bad)
    if isinstance(record, CountRecord):
        return to_count_input(record)
    if isinstance(record, GcsfRecord):
        return to_gcsf_fields(record)
    return to_temperature_fields(record)


def _record_key(record: Record) -> str:
    return record.accession if isinstance(record, CountRecord) else record.external_id


# --- The import ------------------------------------------------------------------------------


@dataclass
class Scope:
    """Which patients the caller may write to; `reveal` says whether others are named as forbidden.

    The API reveals (it answers 403); a nurse's upload treats another team's patient as unknown.
    `home_team_id` is the team shown a record with an unknown MRN (the sender's team, if it has one).
    """

    team_ids: set[int] | None = None
    reveal: bool = True
    home_team_id: int | None = None
    sender: str = ""


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
        batch = services.ResultBatch(counts=[], gcsf=[], temperatures=[], corrections=[], removals=[])
        _Planner(batch, report, scope.team_ids).plan([item for item in checked if unit_of(item[0]) not in bad])
        if report.bad_units() <= bad:
            break
        bad = report.bad_units()
    if report.refused:
        return
    services.record_batch(batch, source=source, user=user)
    if quarantine and bad:
        from monitoring.importers.quarantine import quarantine

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


def patients_by_mrn(mrns: set[str]) -> dict[str, Patient]:
    found = {}
    mrns = sorted(mrns)
    for start in range(0, len(mrns), LOOKUP_CHUNK):
        chunk = mrns[start:start + LOOKUP_CHUNK]
        for patient in Patient.objects.filter(mrn__in=chunk).only("id", "mrn", "team_id", "date_of_birth"):
            found[patient.mrn] = patient
    return found


def in_scope(patient: Patient | None, scope: Scope) -> bool:
    return patient is not None and (scope.team_ids is None or patient.team_id in scope.team_ids)


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


class _Planner:
    """Sort checked records into new rows, duplicates, corrections and removals, in file order."""

    def __init__(self, batch: services.ResultBatch, report: ImportReport, team_ids: set[int] | None = None):
        self.batch, self.report, self.team_ids = batch, report, team_ids

    def plan(self, checked: list) -> None:
        kinds = ((CountResult, CountRecord, "accession", "collected_at"),
                 (GcsfDose, GcsfRecord, "external_id", "given_at"),
                 (TemperatureReading, TemperatureRecord, "external_id", "taken_at"))
        for model, record_type, key_field, time_field in kinds:
            items = [item for item in checked if isinstance(item[0], record_type)]
            if items:
                self._plan_kind(model, items, key_field, time_field)

    def _plan_kind(self, model, items: list, key_field: str, time_field: str) -> None:
        stored = _stored_by_key(model, key_field, {_record_key(r) for r, _, _ in items if _record_key(r)},
                                {p.pk for _, p, _ in items}, self.team_ids)
        natural = _natural_keys(model, {p.pk for r, p, _ in items if not _record_key(r)})
        new: dict[str, tuple] = {}  # key -> (patient, value), in file order
        new_units: dict[str, str] = {}
        unkeyed: list[tuple] = []
        corrections: dict[str, tuple] = {}
        removals: dict[str, object] = {}
        replaced: set[str] = set()  # keys whose stored row is removed and stored again, corrected
        for record, patient, value in items:
            key, unit = _record_key(record), unit_of(record)
            if not key:
                if record.status != FINAL:
                    self.report.add(record.where, key_field, "a correction or removal needs the accession / id",
                                    unit=unit)
                    continue
                natural_key = _natural_key_of(model, patient.pk, value)
                if natural_key in natural:
                    self.report.add_duplicate(unit)
                else:
                    natural.add(natural_key)
                    unkeyed.append((patient, value))
                    self.report.stored_units.add(unit)
                continue
            existing = [row for row in stored.get(key, []) if row.patient_id == patient.pk]
            if stored.get(key) and not existing and model is CountResult:
                # Worded so that it reveals nothing about other teams' results.
                self.report.add(record.where, key_field,
                                f"{key!r} cannot be stored for this patient: not found in your teams", unit=unit)
                continue
            row = existing[0] if existing else None
            if record.status == REMOVAL:
                replaced.discard(key)
                if key in new:
                    del new[key]
                elif row is not None and key not in removals:
                    corrections.pop(key, None)
                    removals[key] = row
                else:
                    self.report.add_duplicate(unit)  # already absent
                    continue
            elif key in removals:
                self.report.add_duplicate(unit)
                continue
            elif record.status == FINAL and (key in new or row is not None):
                if _same(model, row, value) if key not in new else _same_new(model, new[key][1], value):
                    self.report.add_duplicate(unit)
                else:  # never drop it silently: a person decides whether it corrects the stored result
                    self.report.add(record.where, key_field, f"{key!r} is already stored with another value; "
                                    "if this one corrects it, fix it here as a correction", unit=unit, kind=CONFLICT)
                continue
            elif key in new or row is None:
                new[key] = (patient, value)
                new_units[key] = unit
            elif _same(model, row, value):
                corrections.pop(key, None)
                self.report.add_duplicate(unit)
                continue
            elif model is CountResult:
                corrections[key] = (row, value)
            else:  # a corrected temperature or dose: replace the stored row
                removals[key] = row
                new[key] = (patient, value)
                replaced.add(key)
            self.report.stored_units.add(unit)
        created = [item for key, item in new.items() if key not in replaced]
        self._store(model, [*created, *unkeyed], corrections, removals, replaced, new)

    def _store(self, model, created: list, corrections: dict, removals: dict, replaced: set, new: dict) -> None:
        batch, report = self.batch, self.report
        batch.removals.extend(removals.values())
        report.removed += len(removals) - len(replaced)
        report.corrected += len(corrections) + len(replaced)
        replacements = [new[key] for key in replaced]
        if model is CountResult:
            batch.counts.extend(created)
            batch.corrections.extend(corrections.values())
            report.created_counts += len(created)
        elif model is GcsfDose:
            batch.gcsf.extend([*created, *replacements])
            report.created_gcsf += len(created)
        else:
            batch.temperatures.extend([*created, *replacements])
            report.created_temperatures += len(created)


def _stored_by_key(model, key_field: str, keys: set[str], patient_ids: set[int],
                   team_ids: set[int] | None = None) -> dict[str, list]:
    """Return the stored rows with these keys: any patient's for counts (to refuse a clash), else these patients'.

    A caller scoped to teams (an API token, a nurse's upload) sees only its teams' counts: a clash
    with another team's accession, refused while an unused one is stored, told it which exist (issue 25).
    """
    stored: dict[str, list] = {}
    keys = sorted(keys)
    scope = {} if model is CountResult else {"patient_id__in": sorted(patient_ids)}
    if model is CountResult and team_ids is not None:
        scope = {"patient__team_id__in": sorted(team_ids)}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        for row in model.objects.filter(**{f"{key_field}__in": keys[start:start + LOOKUP_CHUNK]}, **scope):
            stored.setdefault(getattr(row, key_field), []).append(row)
    return stored


def _natural_keys(model, patient_ids: set[int]) -> set[tuple]:
    if not patient_ids:
        return set()
    if model is CountResult:
        fields = ("patient_id", "collected_at", "anc_1e9_per_l", "qualifier")
    elif model is GcsfDose:
        fields = ("patient_id", "given_at", "product")
    else:
        fields = ("patient_id", "taken_at", "temperature_c")
    return set(model.objects.filter(patient_id__in=patient_ids).values_list(*fields))


def _natural_key_of(model, patient_id: int, value) -> tuple:
    if model is CountResult:
        return (patient_id, value.collected_at, value.anc_1e9_per_l, value.qualifier)
    if model is GcsfDose:
        return (patient_id, value["given_at"], value["product"])
    return (patient_id, value["taken_at"], value["temperature_c"])


COMPARED_COUNT_FIELDS = ("anc_1e9_per_l", "qualifier", "wbc_1e9_per_l", "neutrophil_pct", "band_pct")
# An export prints times to the minute: the same result read back is not a different one.
SAME_TIME_WITHIN = timedelta(minutes=1)


def _same_count(stored, value) -> bool:
    return abs(stored.collected_at - value.collected_at) < SAME_TIME_WITHIN and all(
        getattr(stored, name) == getattr(value, name) for name in COMPARED_COUNT_FIELDS
    )


def _same(model, row, value) -> bool:
    """Return True if a record says what is already stored (a re-sent result or correction)."""
    if model is CountResult:
        return _same_count(row, value)
    return all(getattr(row, name) == fields_value for name, fields_value in value.items() if name != "external_id")


def _same_new(model, earlier, value) -> bool:
    """Return True if two records of the same file with one key say the same thing."""
    if model is CountResult:
        return _same_count(earlier, value)
    return earlier == value

"""From parsed lab records to one service call: validation, patients, duplicates and the report.

Every format parser turns a file into plain records (`CountRecord`, `GcsfRecord`,
`TemperatureRecord`) and problems. `import_file` validates every record (units, magnitude,
times, MRNs), decides what is new, a duplicate, a correction or a removal, and - only if
no item in the file is bad - hands the whole file to `services.record_batch` in one
transaction. A file with any problem stores nothing.

Duplicates. A lab accession number (or FHIR resource id, HL7 filler order number)
identifies one result wherever it came from, so an accession already stored for the
same patient is a duplicate whatever its source (file import, API, or typed in by a
nurse): the same CBC sent by file and by the API is one count. The same accession stored
for another patient is refused as an error. A record without an accession is a duplicate
when the patient already has a count at the same time with the same ANC (a G-CSF dose of
the same product at the same time; a temperature of the same value at the same time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring import clinical, services
from monitoring.importers import codes
from monitoring.models import CountResult, GcsfDose, ImportException, Patient, TemperatureReading

FINAL = "final"
CORRECTION = "correction"
REMOVAL = "removal"
# A clock a few minutes fast on an analyser is not an error; a result from tomorrow is.
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_ID_LENGTH = 64
MAX_ENTERED_LENGTH = 20  # CountResult.entered_value keeps the number as received
LOOKUP_CHUNK = 5000


# Why a record was kept for review (ImportException.Kind values).
INVALID = "invalid"
UNKNOWN_MRN = "unknown_mrn"
CONFLICT = "conflict"


@dataclass(frozen=True)
class Problem:
    """One bad item: which file, where in it, which field, and why.

    `unit` names the unit of acceptance it belongs to (a CSV row, an HL7 message, a FHIR entry or
    panel); a problem without a unit is about the whole file (an unreadable header, invalid JSON).
    """

    file: str
    where: str
    field: str
    reason: str
    forbidden: bool = False  # the patient exists but is outside the caller's teams
    unit: str = ""
    kind: str = INVALID

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.field}: {self.reason}"

    def as_dict(self) -> dict:
        return {"file": self.file, "where": self.where, "field": self.field, "reason": self.reason}


class FieldError(ValueError):
    """A value that cannot be accepted, naming the field it came from."""

    def __init__(self, field_name: str, reason: str):
        reason = reason.removeprefix(f"{field_name}: ")  # the numeric reader names the field too
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class Measured:
    """A number as received, with its unit and the names to report problems under.

    `qualifier` is "<" or ">" for a censored lab value ("<0.1": below the measuring range).
    """

    value: Decimal
    unit: str
    field: str
    unit_field: str
    qualifier: str = ""


@dataclass
class CountRecord:
    where: str
    mrn: str
    collected_at: datetime | None
    accession: str = ""
    status: str = FINAL
    values: dict[str, Measured] = field(default_factory=dict)
    time_field: str = "collected_at"
    unit: str = ""


@dataclass
class GcsfRecord:
    where: str
    mrn: str
    given_at: datetime | None
    external_id: str = ""
    status: str = FINAL
    product_text: str = ""
    dose: Decimal | None = None
    dose_unit: str = ""
    route: str = ""
    time_field: str = "given_at"
    unit: str = ""


@dataclass
class TemperatureRecord:
    where: str
    mrn: str
    taken_at: datetime | None
    external_id: str = ""
    status: str = FINAL
    value: Decimal | None = None
    unit: str = ""
    site: str = TemperatureReading.Site.OTHER
    time_field: str = "taken_at"
    # `unit` is the temperature's unit (C/F); the unit of acceptance is `acceptance`.
    acceptance: str = ""


Record = CountRecord | GcsfRecord | TemperatureRecord


def unit_of(record: Record) -> str:
    """Return the unit of acceptance a record belongs to."""
    return record.acceptance if isinstance(record, TemperatureRecord) else record.unit


class SourceLines:
    """The physical lines of a text (ends kept), split only when a unit's raw text is asked for."""

    def __init__(self, text: str):
        self.text = text
        self._lines: list[str] | None = None

    def span(self, start: int, end: int) -> str:
        if self._lines is None:
            self._lines = _LINE.findall(self.text)
        return "".join(self._lines[start:end]).rstrip("\r\n")


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


class RawUnit:
    """A unit of acceptance as received: its raw text (re-importable in the file's format) and values.

    A CSV row keeps only its line numbers and its header: a 100,000-row file is not copied row by
    row; the text of a row is cut out of the file only when the row is kept for review.
    """

    __slots__ = ("header", "text", "values", "source", "start", "end")

    def __init__(self, raw: str = "", values: dict[str, str] | None = None, header: str = "",
                 source: SourceLines | None = None, start: int = 0, end: int = 0):
        self.text, self.header, self.source, self.start, self.end = raw, header, source, start, end
        self.values = values if values is not None else {}

    @property
    def raw(self) -> str:
        text = self.source.span(self.start, self.end) if self.source is not None else self.text
        return f"{self.header}\r\n{text}" if self.header else text


@dataclass
class Parsed:
    """What a format parser found: records, problems, and what it held back or ignored.

    Parsers call `begin(unit, raw)` before each unit of acceptance (a CSV row, an HL7 message,
    a FHIR entry); records added with `add` and problems reported after it belong to that unit.
    """

    records: list[Record] = field(default_factory=list)
    problems: list[tuple[str, str, str, str]] = field(default_factory=list)  # (where, field, reason, unit)
    held_back: list[str] = field(default_factory=list)
    ignored: int = 0
    units: dict[str, RawUnit] = field(default_factory=dict)
    current: str = ""

    def begin(self, unit: str, raw: str | RawUnit, values: dict | None = None) -> None:
        self.units[unit] = raw if isinstance(raw, RawUnit) else RawUnit(raw, values)
        self.current = unit

    def end(self) -> None:
        self.current = ""

    def note(self, key: str, value: str) -> None:
        """Keep a value of the current unit as received, for the fix form if the unit is kept for review."""
        unit = self.units.get(self.current)
        if unit is not None and value and key not in unit.values:
            unit.values[key] = str(value)[:200]

    def add(self, record: Record, unit: str | None = None) -> None:
        unit = self.current if unit is None else unit
        if record.__class__ is TemperatureRecord:
            record.acceptance = unit
        else:
            record.unit = unit
        self.records.append(record)

    def problem(self, where: str, field_name: str, reason: str, unit: str | None = None) -> None:
        self.problems.append((where, field_name, reason, self.current if unit is None else unit))


@dataclass
class ImportReport:
    file: str
    format: str
    created_counts: int = 0
    created_gcsf: int = 0
    created_temperatures: int = 0
    duplicates: int = 0
    corrected: int = 0
    removed: int = 0
    held_back: list[str] = field(default_factory=list)
    ignored: int = 0
    problems: list[Problem] = field(default_factory=list)
    all_or_nothing: bool = False
    stored_units: set[str] = field(default_factory=set)
    kept: list[dict] = field(default_factory=list)  # units kept for review: where, problems, exception id

    @property
    def ok(self) -> bool:
        """True when nothing in the file was wrong."""
        return not self.problems

    @property
    def forbidden(self) -> bool:
        return any(p.forbidden for p in self.problems)

    @property
    def refused(self) -> bool:
        """True when nothing of the file was taken: unreadable as a whole, or all-or-nothing with a problem."""
        return bool(self.problems) and (
            self.all_or_nothing or self.forbidden or any(not p.unit for p in self.problems)
        )

    @property
    def created(self) -> int:
        return self.created_counts + self.created_gcsf + self.created_temperatures

    @property
    def stored(self) -> int:
        """Units of acceptance (rows, messages, entries) that changed something."""
        return len(self.stored_units)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.corrected or self.removed)

    def bad_units(self) -> set[str]:
        return {p.unit for p in self.problems if p.unit}

    def add(self, where: str, field_name: str, reason: str, forbidden: bool = False, *, unit: str = "",
            kind: str = INVALID) -> None:
        self.problems.append(Problem(self.file, where, field_name, reason, forbidden, unit, kind))

    def reset_counts(self) -> None:
        self.created_counts = self.created_gcsf = self.created_temperatures = 0
        self.duplicates = self.corrected = self.removed = 0
        self.stored_units = set()

    def summary(self) -> str:
        """Return one line a nurse can read: what was stored, kept for review, skipped and held back."""
        if self.refused:
            return f"{self.file}: refused, {len(self.problems)} problem(s); nothing was imported"
        return (
            f"{self.file} ({self.format}): {self.stored} stored, {len(self.kept)} kept for review; "
            f"{self.created} created ({self.created_counts} counts, "
            f"{self.created_gcsf} G-CSF doses, {self.created_temperatures} temperatures), "
            f"{self.duplicates} duplicates, {self.corrected} corrected, {self.removed} removed, "
            f"{len(self.held_back)} held back"
        )

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "format": self.format,
            "imported": not self.refused,
            "stored": self.stored if not self.refused else 0,
            "kept_for_review": len(self.kept),
            "created": {
                "counts": self.created_counts,
                "gcsf_doses": self.created_gcsf,
                "temperatures": self.created_temperatures,
            },
            "duplicates": self.duplicates,
            "corrected": self.corrected,
            "removed": self.removed,
            "held_back": self.held_back,
            "ignored": self.ignored,
            "problems": [p.as_dict() for p in self.problems],
            "kept": self.kept,
        }


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


def _when(record: Record) -> datetime | None:
    return getattr(record, record.time_field)


def _validate(record: Record):
    """Return the service input for a record (None for a removal, which needs no values)."""
    if record.status == REMOVAL:
        return None
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
    now: datetime | None = None, all_or_nothing: bool = False, quarantine: bool = True,
) -> ImportReport:
    """Store every good unit of a file (row, message, entry) and keep every bad one for review.

    With `all_or_nothing`, a file with any bad unit stores nothing and keeps nothing (a hand-made
    file the user will correct). Good units are stored in one batch, in one transaction, with the
    bad ones written to the exceptions queue in the same transaction. A unique-constraint clash with
    a concurrent import of the same results rolls back and re-plans: the rows the other import
    committed are then duplicates, so every identical sender gets success.
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
                        fmt=fmt)
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
            quarantine: bool, fmt: str) -> None:
    patients = _patients({r.mrn for r in parsed.records})
    checked = _checked(parsed.records, patients, report, scope, now)
    if report.refused:
        return
    bad = report.bad_units()
    while True:  # re-plan until the planner finds no new bad unit (a conflict excludes its unit)
        report.reset_counts()
        batch = services.ResultBatch(counts=[], gcsf=[], temperatures=[], corrections=[], removals=[])
        _Planner(batch, report).plan([item for item in checked if unit_of(item[0]) not in bad])
        if report.bad_units() <= bad:
            break
        bad = report.bad_units()
    if report.refused:
        return
    services.record_batch(batch, source=source, user=user)
    if quarantine and bad:
        _quarantine(report, parsed, bad, patients, scope=scope, source=source, user=user, now=now, fmt=fmt)


def _checked(records: list[Record], patients: dict[str, Patient], report: ImportReport, scope: Scope,
             now: datetime) -> list[tuple]:
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
    return checked


def _patients(mrns: set[str]) -> dict[str, Patient]:
    found = {}
    mrns = sorted(mrns)
    for start in range(0, len(mrns), LOOKUP_CHUNK):
        chunk = mrns[start:start + LOOKUP_CHUNK]
        for patient in Patient.objects.filter(mrn__in=chunk).only("id", "mrn", "team_id", "date_of_birth"):
            found[patient.mrn] = patient
    return found


def _in_scope(patient: Patient | None, scope: Scope) -> bool:
    return patient is not None and (scope.team_ids is None or patient.team_id in scope.team_ids)


def _patient_for(record: Record, patients: dict[str, Patient], report: ImportReport, scope: Scope):
    unit = unit_of(record)
    if not record.mrn:
        report.add(record.where, "mrn", "the MRN is missing", unit=unit)
        return None
    patient = patients.get(record.mrn)
    outside = patient is not None and not _in_scope(patient, scope)
    if patient is None or (outside and not scope.reveal):
        where = " in your teams" if scope.team_ids is not None else ""
        report.add(record.where, "mrn", f"unknown MRN {record.mrn!r}{where}: register the patient, then re-try",
                   unit=unit, kind=UNKNOWN_MRN)
        return None
    if outside:
        report.add(record.where, "mrn", f"patient {record.mrn} is not in the teams this token may write to",
                   forbidden=True, unit=unit)
        return None
    return patient


# --- The exceptions queue -----------------------------------------------------------------------


def _quarantine(report: ImportReport, parsed: Parsed, bad: set[str], patients: dict[str, Patient], *,
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
    unread = {_unit_mrn(parsed.units.get(u), fmt) for u in units} - set(patients) - {""}
    patients = {**patients, **_patients(unread)} if unread else patients
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
        from monitoring.importers.csv_format import row_values

        return row_values(raw_unit.raw).get("mrn", "")
    return raw_unit.values.get("mrn", "")


def _exception(unit: str, raw_unit: RawUnit | None, records: list[Record], problems: list[Problem],
               patients: dict[str, Patient], *, scope: Scope, source: str, user, now: datetime, fmt: str,
               file: str):
    raw = raw_unit.raw if raw_unit is not None else unit
    values = dict(raw_unit.values) if raw_unit is not None else {}
    if fmt == "csv":
        from monitoring.importers.csv_format import row_values

        values = {**row_values(raw), **values}
    for record in records:
        for key, value in record_values(record).items():
            values.setdefault(key, value)
    mrn = next((r.mrn for r in records if r.mrn), values.get("mrn", ""))[:64]
    patient = patients.get(mrn)
    patient = patient if _in_scope(patient, scope) else None
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
    moment = _when(record)
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


def _check_time(record: Record, patient: Patient, now: datetime) -> None:
    moment = _when(record)
    if moment is None:
        raise FieldError(record.time_field, "the time is missing")
    if moment > now + FUTURE_TOLERANCE:
        raise FieldError(record.time_field, f"{timezone.localtime(moment):%Y-%m-%d %H:%M} is in the future")
    if timezone.localtime(moment).date() < patient.date_of_birth:
        raise FieldError(record.time_field, f"{timezone.localtime(moment):%Y-%m-%d} is before the patient's birth")


class _Planner:
    """Sort checked records into new rows, duplicates, corrections and removals, in file order."""

    def __init__(self, batch: services.ResultBatch, report: ImportReport):
        self.batch, self.report = batch, report

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
                                {p.pk for _, p, _ in items})
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
                    self.report.duplicates += 1
                else:
                    natural.add(natural_key)
                    unkeyed.append((patient, value))
                    self.report.stored_units.add(unit)
                continue
            existing = [row for row in stored.get(key, []) if row.patient_id == patient.pk]
            if stored.get(key) and not existing and model is CountResult:
                self.report.add(record.where, key_field, f"{key!r} is already stored for another patient", unit=unit)
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
                    self.report.duplicates += 1  # already absent
                    continue
            elif key in removals:
                self.report.duplicates += 1
                continue
            elif record.status == FINAL and (key in new or row is not None):
                if _same(model, row, value) if key not in new else _same_new(model, new[key][1], value):
                    self.report.duplicates += 1
                else:  # never drop it silently: a person decides whether it corrects the stored result
                    self.report.add(record.where, key_field, f"{key!r} is already stored with another value; "
                                    "if this one corrects it, fix it here as a correction", unit=unit, kind=CONFLICT)
                continue
            elif key in new or row is None:
                new[key] = (patient, value)
                new_units[key] = unit
            elif _same(model, row, value):
                corrections.pop(key, None)
                self.report.duplicates += 1
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


def _stored_by_key(model, key_field: str, keys: set[str], patient_ids: set[int]) -> dict[str, list]:
    """Return the stored rows with these keys: any patient's for counts (to refuse a clash), else these patients'."""
    stored: dict[str, list] = {}
    keys = sorted(keys)
    scope = {} if model is CountResult else {"patient_id__in": sorted(patient_ids)}
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

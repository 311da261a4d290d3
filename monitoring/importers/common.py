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

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from monitoring import clinical, services
from monitoring.importers import codes
from monitoring.models import CountResult, GcsfDose, Patient, TemperatureReading

FINAL = "final"
CORRECTION = "correction"
REMOVAL = "removal"
# A clock a few minutes fast on an analyser is not an error; a result from tomorrow is.
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_ID_LENGTH = 64
MAX_ENTERED_LENGTH = 20  # CountResult.entered_value keeps the number as received
LOOKUP_CHUNK = 5000


@dataclass(frozen=True)
class Problem:
    """One bad item: which file, where in it, which field, and why."""

    file: str
    where: str
    field: str
    reason: str
    forbidden: bool = False  # the patient exists but is outside the caller's teams

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.field}: {self.reason}"

    def as_dict(self) -> dict:
        return {"file": self.file, "where": self.where, "field": self.field, "reason": self.reason}


class FieldError(ValueError):
    """A value that cannot be accepted, naming the field it came from."""

    def __init__(self, field_name: str, reason: str):
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class Measured:
    """A number as received, with its unit and the names to report problems under."""

    value: Decimal
    unit: str
    field: str
    unit_field: str


@dataclass
class CountRecord:
    where: str
    mrn: str
    collected_at: datetime | None
    accession: str = ""
    status: str = FINAL
    values: dict[str, Measured] = field(default_factory=dict)
    time_field: str = "collected_at"


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


Record = CountRecord | GcsfRecord | TemperatureRecord


@dataclass
class Parsed:
    """What a format parser found: records, problems, and what it held back or ignored."""

    records: list[Record] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (where, field, reason)
    held_back: list[str] = field(default_factory=list)
    ignored: int = 0

    def problem(self, where: str, field_name: str, reason: str) -> None:
        self.problems.append((where, field_name, reason))


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

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def forbidden(self) -> bool:
        return any(p.forbidden for p in self.problems)

    @property
    def created(self) -> int:
        return self.created_counts + self.created_gcsf + self.created_temperatures

    def add(self, where: str, field_name: str, reason: str, forbidden: bool = False) -> None:
        self.problems.append(Problem(self.file, where, field_name, reason, forbidden))

    def summary(self) -> str:
        """Return one line a nurse can read: what was stored, skipped and held back."""
        if not self.ok:
            return f"{self.file}: refused, {len(self.problems)} problem(s); nothing was imported"
        return (
            f"{self.file} ({self.format}): {self.created} created ({self.created_counts} counts, "
            f"{self.created_gcsf} G-CSF doses, {self.created_temperatures} temperatures), "
            f"{self.duplicates} duplicates, {self.corrected} corrected, {self.removed} removed, "
            f"{len(self.held_back)} held back"
        )

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "format": self.format,
            "imported": self.ok,
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
        }


# --- Times ---------------------------------------------------------------------------------


def aware(moment: datetime) -> datetime:
    """Return `moment` with the clinic's zone if it came without one."""
    if timezone.is_naive(moment):
        return timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


def parse_iso_time(text: str, field_name: str) -> datetime:
    """Return an aware datetime from ISO-8601 text; clinic-local time unless a zone is given."""
    text = (text or "").strip()
    if len(text) <= 10:
        raise FieldError(field_name, f"{text!r} is not a date and time (e.g. 2024-05-01T08:30)" if text
                         else "the time is missing")
    try:
        return aware(datetime.fromisoformat(text))
    except ValueError:
        raise FieldError(field_name, f"{text!r} is not an ISO-8601 date and time (e.g. 2024-05-01T08:30)") from None


def decimal_field(text: str, field_name: str) -> Decimal | None:
    """Return the number in `text`, None if blank, or raise naming the field."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return clinical.to_decimal(text, field_name)
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
    anc, wbc = values.get(codes.ANC), values.get(codes.WBC)
    percents = {role: values.get(role) for role in codes.PERCENT_ROLES}
    for measured in percents.values():
        if measured is not None:
            _clinical(measured.unit_field, codes.check_percent_unit, measured.unit)
    main = anc or wbc
    if main is None:
        raise FieldError("anc", "give the ANC, or the WBC with the neutrophil %")
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
        accession=record.accession,
    )


def to_gcsf_fields(record: GcsfRecord) -> dict:
    product = _clinical("product", clinical.gcsf_product, record.product_text)
    if record.dose is None:
        raise FieldError("dose", "the dose is missing")
    if record.dose <= 0:
        raise FieldError("dose", "the dose must be positive")
    if len(record.external_id) > MAX_ID_LENGTH:
        raise FieldError("id", f"longer than {MAX_ID_LENGTH} characters")
    return {
        "product": product,
        "product_name": record.product_text.strip()[:80],
        "dose": record.dose,
        "dose_unit": _clinical("dose unit", codes.gcsf_dose_unit, record.dose_unit),
        "route": _clinical("route", codes.route, record.route),
        "given_at": record.given_at,
        "external_id": record.external_id,
    }


def to_temperature_fields(record: TemperatureRecord) -> dict:
    if record.value is None:
        raise FieldError("temperature", "the temperature is missing")
    celsius = _clinical("temperature", clinical.to_celsius, record.value, record.unit)
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
    """

    team_ids: set[int] | None = None
    reveal: bool = True


def import_parsed(
    name: str, fmt: str, parsed: Parsed, *, source: str, user=None, scope: Scope | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Validate every record of one file and store the file whole, or nothing."""
    now = now or timezone.now()
    scope = scope or Scope()
    report = ImportReport(file=name, format=fmt, held_back=list(parsed.held_back), ignored=parsed.ignored)
    for where, field_name, reason in parsed.problems:
        report.add(where, field_name, reason)
    if not parsed.records and not parsed.problems and not parsed.held_back:
        report.add("file", "content", "no results found")
    try:
        with transaction.atomic():
            batch = _plan(parsed.records, report, scope, now)
            if report.ok:
                services.record_batch(batch, source=source, user=user)
    except IntegrityError:
        report.add("file", "accession", "the same results were being imported at the same moment; try again")
    except DataError as exc:  # a value the checks above let through but a column cannot hold
        report.add("file", "value", f"a value does not fit the database: {str(exc).splitlines()[0]}")
    return report


def _plan(records: list[Record], report: ImportReport, scope: Scope, now: datetime) -> services.ResultBatch:
    patients = _patients({r.mrn for r in records})
    checked = []
    for record in records:
        patient = _patient_for(record, patients, report, scope)
        try:
            value = _validate(record)
            if patient is not None:
                _check_time(record, patient, now)
        except FieldError as exc:
            report.add(record.where, exc.field, exc.reason)
            continue
        if patient is not None:
            checked.append((record, patient, value))
    batch = services.ResultBatch(counts=[], gcsf=[], temperatures=[], corrections=[], removals=[])
    if report.ok:
        _Planner(batch, report).plan(checked)
    return batch


def _patients(mrns: set[str]) -> dict[str, Patient]:
    found = {}
    mrns = sorted(mrns)
    for start in range(0, len(mrns), LOOKUP_CHUNK):
        chunk = mrns[start:start + LOOKUP_CHUNK]
        for patient in Patient.objects.filter(mrn__in=chunk).only("id", "mrn", "team_id", "date_of_birth"):
            found[patient.mrn] = patient
    return found


def _patient_for(record: Record, patients: dict[str, Patient], report: ImportReport, scope: Scope):
    if not record.mrn:
        report.add(record.where, "mrn", "the MRN is missing")
        return None
    patient = patients.get(record.mrn)
    outside = patient is not None and scope.team_ids is not None and patient.team_id not in scope.team_ids
    if patient is None or (outside and not scope.reveal):
        report.add(record.where, "mrn", f"unknown MRN {record.mrn!r}: not found in your teams")
        return None
    if outside:
        report.add(record.where, "mrn", f"patient {record.mrn} is not in the teams this token may write to",
                   forbidden=True)
        return None
    return patient


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
        stored = _stored_by_key(model, key_field, {_record_key(r) for r, _, _ in items if _record_key(r)})
        natural = _natural_keys(model, {p.pk for r, p, _ in items if not _record_key(r)})
        new: dict[str, tuple] = {}  # key -> (patient, value), in file order
        unkeyed: list[tuple] = []
        corrections: dict[str, tuple] = {}
        removals: dict[str, object] = {}
        replaced: set[str] = set()  # keys whose stored row is removed and stored again, corrected
        for record, patient, value in items:
            key = _record_key(record)
            if not key:
                if record.status != FINAL:
                    self.report.add(record.where, key_field, "a correction or removal needs the accession / id")
                    continue
                natural_key = _natural_key_of(model, patient.pk, value)
                if natural_key in natural:
                    self.report.duplicates += 1
                else:
                    natural.add(natural_key)
                    unkeyed.append((patient, value))
                continue
            existing = [row for row in stored.get(key, []) if row.patient_id == patient.pk]
            if stored.get(key) and not existing:
                self.report.add(record.where, key_field,
                                f"{key!r} cannot be stored for this patient: not found in your teams")
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
            elif key in removals:
                self.report.duplicates += 1
            elif record.status == FINAL and (key in new or row is not None):
                self.report.duplicates += 1
            elif key in new or row is None:
                new[key] = (patient, value)
            elif _same(model, row, value):
                corrections.pop(key, None)
                self.report.duplicates += 1
            elif model is CountResult:
                corrections[key] = (row, value)
            else:  # a corrected temperature or dose: replace the stored row
                removals[key] = row
                new[key] = (patient, value)
                replaced.add(key)
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


def _stored_by_key(model, key_field: str, keys: set[str]) -> dict[str, list]:
    stored: dict[str, list] = {}
    keys = sorted(keys)
    for start in range(0, len(keys), LOOKUP_CHUNK):
        for row in model.objects.filter(**{f"{key_field}__in": keys[start:start + LOOKUP_CHUNK]}):
            stored.setdefault(getattr(row, key_field), []).append(row)
    return stored


def _natural_keys(model, patient_ids: set[int]) -> set[tuple]:
    if not patient_ids:
        return set()
    if model is CountResult:
        fields = ("patient_id", "collected_at", "anc_1e9_per_l")
    elif model is GcsfDose:
        fields = ("patient_id", "given_at", "product")
    else:
        fields = ("patient_id", "taken_at", "temperature_c")
    return set(model.objects.filter(patient_id__in=patient_ids).values_list(*fields))


def _natural_key_of(model, patient_id: int, value) -> tuple:
    if model is CountResult:
        return (patient_id, value.collected_at, value.anc_1e9_per_l)
    if model is GcsfDose:
        return (patient_id, value["given_at"], value["product"])
    return (patient_id, value["taken_at"], value["temperature_c"])


def _same(model, row, value) -> bool:
    """Return True if a correction says what is already stored (a re-sent correction)."""
    if model is CountResult:
        return all(
            getattr(row, name) == getattr(value, name)
            for name in ("collected_at", "anc_1e9_per_l", "wbc_1e9_per_l", "neutrophil_pct", "band_pct")
        )
    return all(getattr(row, name) == fields_value for name, fields_value in value.items() if name != "external_id")

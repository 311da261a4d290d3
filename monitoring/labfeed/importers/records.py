"""What format parsers produce and the importer reports: records, problems, units of acceptance.

Plain data, no database: `CountRecord`, `GcsfRecord`, `TemperatureRecord` (one result each),
`Parsed` (a parser's output: records, problems, and the raw text of each unit of acceptance, a CSV
row, an HL7 message or a FHIR entry) and `ImportReport` (what an import did with them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from monitoring.models.results import TemperatureReading

FINAL = "final"
CORRECTION = "correction"
REMOVAL = "removal"
# A clock a few minutes fast on an analyser is not an error; a result from tomorrow is.
MAX_ID_LENGTH = 64
MAX_ENTERED_LENGTH = 20  # CountResult.entered_value keeps the number as received


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
    duplicates_by_unit: dict[str, int] = field(default_factory=dict)

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

    def add_duplicate(self, unit: str) -> None:
        self.duplicates += 1
        self.duplicates_by_unit[unit] = self.duplicates_by_unit.get(unit, 0) + 1

    def reset_counts(self) -> None:
        self.created_counts = self.created_gcsf = self.created_temperatures = 0
        self.duplicates = self.corrected = self.removed = 0
        self.stored_units = set()
        self.duplicates_by_unit = {}

    def outcome(self, unit: str) -> UnitOutcome:
        """Return what became of one unit of the file (one HL7 message): stored, duplicate, kept or nothing.

        A message with several patients was read as one unit per patient ("message 3, patient 2"):
        its outcome is theirs together.
        """
        part = f"{unit}, "

        def mine(name: str) -> bool:
            return name == unit or name.startswith(part)

        return UnitOutcome(
            unit=unit,
            stored=any(mine(name) for name in self.stored_units),
            duplicates=sum(count for name, count in self.duplicates_by_unit.items() if mine(name)),
            problems=[p for p in self.problems if mine(p.unit)],
            kept=[k for k in self.kept if k["where"] == unit[:200] or k["where"].startswith(part)],
            held_back=[h for h in self.held_back if h.startswith((f"{unit} ", f"{unit}:", part))],
        )

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


@dataclass
class UnitOutcome:
    """One unit's share of an ImportReport: what became of one row, message or entry."""

    unit: str
    stored: bool  # it changed something
    duplicates: int  # records already stored (or earlier in the same file)
    problems: list[Problem]
    kept: list[dict]  # its exceptions-queue entry, when it was kept for review
    held_back: list[str]

    @property
    def read_nothing(self) -> bool:
        """True when the unit held no result at all: alone it would be refused as "no results found"."""
        return not (self.stored or self.duplicates or self.problems or self.held_back)

"""CSV results: one row per blood count (and optionally a temperature or a G-CSF dose).

Header (columns in any order, case-insensitive):
    mrn,collected_at,anc,wbc,neutrophil_pct,band_pct,unit,accession
Optional columns: status (final / corrected / entered-in-error), temperature, temperature_unit
(C or F), temperature_site, gcsf_product, gcsf_dose, gcsf_dose_unit (ug or mg), gcsf_route.
Times are ISO-8601, clinic-local unless a zone is given. Rows are named by their line number.
"""

from __future__ import annotations

import csv
import io
import itertools

from monitoring.labfeed.importers import codes
from monitoring.labfeed.importers.records import (
    CORRECTION,
    FINAL,
    REMOVAL,
    CountRecord,
    FieldError,
    GcsfRecord,
    Measured,
    Parsed,
    RawUnit,
    SourceLines,
    TemperatureRecord,
)
from monitoring.labfeed.importers.validation import censored_field, decimal_field, parse_iso_time
from monitoring.models import TemperatureReading

REQUIRED = ("mrn", "collected_at")
COUNT_COLUMNS = ("anc", "wbc", "neutrophil_pct", "band_pct", "platelets", "unit")
OPTIONAL = (
    "accession", "status", "temperature", "temperature_unit", "temperature_site",
    "gcsf_product", "gcsf_dose", "gcsf_dose_unit", "gcsf_route",
)
COLUMNS = REQUIRED + COUNT_COLUMNS + OPTIONAL
EXPORT_COLUMNS = (
    "mrn", "collected_at", "anc", "wbc", "neutrophil_pct", "band_pct", "platelets", "unit", "accession",
    "temperature", "temperature_unit", "temperature_site", "gcsf_product", "gcsf_dose", "gcsf_dose_unit",
    "gcsf_route",
)
STATUSES = {
    "": FINAL, "final": FINAL, "f": FINAL,
    "corrected": CORRECTION, "amended": CORRECTION, "c": CORRECTION,
    "entered-in-error": REMOVAL, "deleted": REMOVAL, "d": REMOVAL,
}
SITES = {choice for choice, _ in TemperatureReading.Site.choices}


def parse(text: str) -> Parsed:
    """Parse CSV text into records; every bad cell is a problem naming its row and column.

    Each row is a unit of acceptance, kept as received (with the header line) so that a bad row
    can be kept for review and re-imported on its own.
    """
    parsed = Parsed()
    source = SourceLines(text)
    try:
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows, None)
        header_end = rows.line_num
        columns = _columns(header, parsed)
        if columns is None:
            return parsed
        header_line = "".join(itertools.islice(io.StringIO(text, newline=""), header_end)).rstrip("\r\n")
        start = header_end
        for cells in rows:
            row_start, end = start, rows.line_num  # the physical lines this row spans
            start = end
            if not any(cell.strip() for cell in cells):
                continue
            where = f"row {end}"
            parsed.begin(where, RawUnit(header=header_line, source=source, start=row_start, end=end))
            if len(cells) != len(columns):
                parsed.problem(where, "row", f"has {len(cells)} fields, the header has {len(columns)}")
                continue
            _parse_row(dict(zip(columns, cells)), where, parsed)
        parsed.end()
    except csv.Error as exc:
        parsed.problem("file", "csv", f"not readable as CSV: {exc}", unit="")
    return parsed


def row_values(raw: str) -> dict[str, str]:
    """Return the cells of a one-row CSV (header and row) by column name: the fix form's values."""
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    if len(rows) < 2:
        return {}
    columns = [name.strip().lower() for name in rows[0]]
    return {name: cell.strip() for name, cell in zip(columns, rows[1]) if cell.strip() and name in COLUMNS}


def _columns(header: list[str] | None, parsed: Parsed) -> list[str] | None:
    if not header:
        parsed.problem("row 1", "header", "the file is empty; expected a header row")
        return None
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in COLUMNS]
    for name in unknown:
        parsed.problem("row 1", "header", f"unknown column {name!r}")
    for name in REQUIRED:
        if name not in columns:
            parsed.problem("row 1", "header", f"missing column {name!r}")
    if len(set(columns)) != len(columns):
        parsed.problem("row 1", "header", "a column appears twice")
    if not {"anc", "wbc", "temperature", "gcsf_product"} & set(columns):
        parsed.problem("row 1", "header", "needs an 'anc' or 'wbc' column (or temperature / gcsf_product)")
    return None if parsed.problems else columns


def _parse_row(row: dict[str, str], where: str, parsed: Parsed) -> None:
    try:
        mrn = row["mrn"].strip()
        collected_at = parse_iso_time(row["collected_at"], "collected_at")
        status = STATUSES.get(row.get("status", "").strip().lower())
        if status is None:
            raise FieldError("status", f"unknown status {row['status']!r}: use final, corrected or entered-in-error")
        accession = row.get("accession", "").strip()
        records = [
            *_count(row, where, mrn, collected_at, accession, status),
            *_temperature(row, where, mrn, collected_at, accession, status),
            *_gcsf(row, where, mrn, collected_at, accession, status),
        ]
    except FieldError as exc:
        parsed.problem(where, exc.field, exc.reason)
        return
    if not records:
        parsed.problem(where, "row", "has no count, temperature or G-CSF dose")
    for record in records:
        parsed.add(record)


def _count(row, where, mrn, collected_at, accession, status) -> list[CountRecord]:
    unit = row.get("unit", "").strip()
    values = {}
    for role in (codes.ANC, codes.WBC):
        censored = censored_field(row.get(role, ""), role)
        if censored is not None:
            qualifier, value = censored
            values[role] = Measured(value, unit, role, "unit", qualifier)
    for role in codes.PERCENT_ROLES:
        value = decimal_field(row.get(role, ""), role)
        if value is not None:
            values[role] = Measured(value, "%", role, role)
    platelets = decimal_field(row.get(codes.PLATELETS, ""), codes.PLATELETS)
    if platelets is not None:  # in the row's unit, like the ANC
        values[codes.PLATELETS] = Measured(platelets, unit, codes.PLATELETS, "unit")
    others = row.get("temperature", "").strip() or row.get("gcsf_product", "").strip()
    if not values and not (status == REMOVAL and not others):
        return []
    if not unit and (codes.ANC in values or codes.WBC in values):
        raise FieldError("unit", "the unit is missing: use 10^9/L, 10^3/uL (K/uL) or cells/uL")
    return [CountRecord(where, mrn, collected_at, accession, status, values)]


def _temperature(row, where, mrn, collected_at, accession, status) -> list[TemperatureRecord]:
    value = decimal_field(row.get("temperature", ""), "temperature")
    if value is None:
        return []
    unit = row.get("temperature_unit", "").strip()
    if not unit:
        raise FieldError("temperature_unit", "the temperature unit is missing: use C or F")
    site = row.get("temperature_site", "").strip().lower() or TemperatureReading.Site.ORAL
    if site not in SITES:
        raise FieldError("temperature_site", f"unknown site {site!r}: use one of {', '.join(sorted(SITES))}")
    return [TemperatureRecord(where, mrn, collected_at, accession, status, value, unit, site)]


def _gcsf(row, where, mrn, collected_at, accession, status) -> list[GcsfRecord]:
    product = row.get("gcsf_product", "").strip()
    if not product:
        return []
    dose = decimal_field(row.get("gcsf_dose", ""), "gcsf_dose")
    return [
        GcsfRecord(where, mrn, collected_at, accession, status, product, dose,
                   row.get("gcsf_dose_unit", "").strip(), row.get("gcsf_route", "").strip())
    ]

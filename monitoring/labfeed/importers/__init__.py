"""Lab results in: CSV, FHIR R4 JSON, HL7 v2 ORU^R01. parse -> validated plain records -> one service call.

Record by record: every unit of a file is stored or kept for review in the exceptions queue.

`import_file(name, data, ...)` is the one entry point for the command, the upload page and the API.
"""

from __future__ import annotations

from datetime import datetime

from monitoring.labfeed.importers import csv_format, fhir, hl7v2
from monitoring.labfeed.importers.common import import_parsed
from monitoring.labfeed.importers.records import ImportReport, Parsed, Problem
from monitoring.labfeed.importers.scope import Scope

FORMATS = {"csv": csv_format.parse, "fhir": fhir.parse, "hl7": hl7v2.parse}
EXTENSIONS = {".csv": "csv", ".json": "fhir", ".fhir": "fhir", ".hl7": "hl7", ".oru": "hl7", ".txt": None}
# A workbook saved by Excel: .xlsx (a zip archive) and .xls (an OLE2 compound file); read as text
# they were "not UTF-8 text" or "contains NUL bytes", which does not tell a nurse what to do.
WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")

__all__ = ["FORMATS", "ImportReport", "Problem", "Scope", "detect_format", "import_file"]


def detect_format(name: str, text: str) -> str:
    """Return csv, fhir or hl7 from the content (the file name only breaks ties)."""
    start = text.lstrip("\ufeff\x0b \t\r\n")[:3]
    if start.startswith(("{", "[")):
        return "fhir"
    if start in ("MSH", "FHS", "BHS"):
        return "hl7"
    for extension, fmt in EXTENSIONS.items():
        if fmt and name.lower().endswith(extension):
            return fmt
    return "csv"


def decode(data: bytes | str) -> str | None:
    """Return the text of an upload, or None if it is not UTF-8 (nor an HL7 v2 file in another character set)."""
    if isinstance(data, str):
        return data
    if data.lstrip(b"\x0b\r\n \xef\xbb\xbf").startswith((b"MSH", b"FHS", b"BHS")):
        return hl7v2.decode(data)  # UTF-8, else MSH-18's character set, else ISO 8859-1
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def import_file(
    name: str,
    data: bytes | str,
    *,
    source: str,
    fmt: str | None = None,
    user=None,
    scope: Scope | None = None,
    now: datetime | None = None,
    all_or_nothing: bool = False,
    quarantine: bool = True,
) -> ImportReport:
    """Import one file record by record (or whole or not at all) and return the report of what happened.

    Each unit (CSV row, HL7 message, FHIR entry or panel) is stored, or kept in the exceptions
    queue with its problems. With `all_or_nothing`, any bad unit refuses the whole file instead.
    A file that cannot be read at all (not UTF-8, invalid JSON, a bad CSV header) is refused whole.
    """
    if isinstance(data, bytes) and data.startswith(WORKBOOK_SIGNATURES):
        report = ImportReport(file=name, format=fmt or "unknown")
        report.add("file", "format", "an Excel workbook, not a CSV file: save it as CSV UTF-8 "
                                     "(File > Save As) and import that")
        return report
    text = decode(data)
    if text is None:
        report = ImportReport(file=name, format=fmt or "unknown")
        report.add("file", "encoding", "not UTF-8 text")
        return report
    if "\x00" in text:
        report = ImportReport(file=name, format=fmt or "unknown")
        report.add("file", "content", "contains NUL bytes: not a text file")
        return report
    fmt = fmt or detect_format(name, text)
    if fmt not in FORMATS:
        report = ImportReport(file=name, format=fmt)
        report.add("file", "format", f"unknown format {fmt!r}: use csv, fhir or hl7")
        return report
    parsed: Parsed = FORMATS[fmt](text)
    return import_parsed(name, fmt, parsed, source=source, user=user, scope=scope, now=now,
                         all_or_nothing=all_or_nothing, quarantine=quarantine)

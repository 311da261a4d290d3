"""CSV the app writes: cells a spreadsheet cannot run as formulas, and safe download headers.

Every CSV NeutroWatch writes (the cycle-summary download, `export_results`) goes through
`writer()`, so no text cell can start a formula (OWASP "CSV injection": a cell starting with
=, +, -, @, a tab or a carriage return is run by Excel and LibreOffice). Such a cell gets a
leading apostrophe, which spreadsheets show as text. Numbers are written as they are.
"""

from __future__ import annotations

import csv
import re

from django.utils.http import content_disposition_header

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# File names built from data (an MRN) keep only these characters: no quotes, CR/LF or slashes.
UNSAFE_FILENAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


def safe_cell(value):
    """Return `value`, with a leading apostrophe if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """A csv.writer whose rows are made of safe cells."""

    def __init__(self, stream, **kwargs) -> None:
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows) -> None:
        for row in rows:
            self.writerow(row)


def writer(stream, **kwargs) -> SafeWriter:
    """Return a CSV writer for `stream` that neutralises formulas in every text cell."""
    return SafeWriter(stream, **kwargs)


def attachment(filename: str) -> str:
    """Return a Content-Disposition header value for a download named from data (never a header error)."""
    stem, dot, extension = filename.rpartition(".")
    cleaned = UNSAFE_FILENAME_CHARACTERS.sub("_", stem if dot else filename).strip("._") or "download"
    return content_disposition_header(True, f"{cleaned}.{extension}" if dot else cleaned)

"""Logging filters for the console: what an operator reads should be news, not noise."""

from __future__ import annotations

import logging

REFUSED = 403


class RefusalWithoutTraceback(logging.Filter):
    """Keep a refused request (403) as one line, without the PermissionDenied traceback.

    Refusing a nurse a regimen form is the app working as designed; a traceback on the console
    reads like a crash. The line ("Forbidden (Permission denied): /path") stays for the audit trail.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == REFUSED:
            record.exc_info = None
            record.exc_text = None
        return True

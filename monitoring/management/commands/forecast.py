"""Print a nadir forecast for every history in a JSONL file (``-`` reads standard input)."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from monitoring.forecasting import HistoryError, forecast_history


class Command(BaseCommand):
    help = "Forecast the ANC nadir for each history (nadir-bench JSONL) and print one JSON line each."

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSONL file of histories, or - for standard input")

    def handle(self, *args, **options):
        path = options["path"]
        try:
            stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from error
        failures = 0
        with stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                result = self._forecast_line(line, number)
                failures += "error" in result
                self.stdout.write(json.dumps(result))
        if failures:
            raise CommandError(f"{failures} line(s) could not be forecast")

    def _forecast_line(self, line: str, number: int) -> dict:
        """Return the forecast for one line, or an error object naming what is wrong."""
        try:
            history = json.loads(line)
        except json.JSONDecodeError as error:
            return {"id": None, "error": f"line {number}: not valid JSON ({error.msg} at column {error.colno})"}
        history_id = history.get("id") if isinstance(history, dict) else None
        try:
            return forecast_history(history)
        except HistoryError as error:
            return {"id": history_id, "error": f"line {number}: {error}"}

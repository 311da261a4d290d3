"""Print a nadir forecast for every history in a JSONL file (``-`` reads standard input)."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from monitoring.forecasting import forecast_batch


class Command(BaseCommand):
    help = (
        "Forecast the ANC nadir for each history (nadir-bench JSONL) and print one JSON line each. "
        "Regimens with enough histories in the file first get a prior learned from all of them."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSONL file of histories, or - for standard input")
        parser.add_argument(
            "--no-pooling",
            action="store_true",
            help="use only the literature or generic regimen priors, not priors learned from the file",
        )

    def handle(self, *args, **options):
        path = options["path"]
        try:
            stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from error
        # Every line is read first: the regimen priors are learned from the whole batch.
        lines: list[tuple[int, object]] = []
        with stream:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    lines.append((number, self._read_line(line, number)))
        histories = [item for _, item in lines if not isinstance(item, _Unreadable)]
        forecasts = iter(forecast_batch(histories, pooling=not options["no_pooling"]))
        failures = 0
        for number, item in lines:
            if isinstance(item, _Unreadable):
                result = {"id": None, "error": item.message}
            else:
                result = next(forecasts)
                if "error" in result:
                    result["error"] = f"line {number}: {result['error']}"
            failures += "error" in result
            self.stdout.write(json.dumps(result))
        if failures:
            raise CommandError(f"{failures} line(s) could not be forecast")

    def _read_line(self, line: str, number: int) -> object:
        try:
            return json.loads(line)
        except json.JSONDecodeError as error:
            return _Unreadable(f"line {number}: not valid JSON ({error.msg} at column {error.colno})")


class _Unreadable:
    """A line that is not JSON, with the message to print for it."""

    def __init__(self, message: str):
        self.message = message

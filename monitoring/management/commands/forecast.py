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
        numbers, histories, unreadable = [], [], {}
        with stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                numbers.append(number)
                try:
                    histories.append(json.loads(line))
                except json.JSONDecodeError as error:
                    unreadable[number] = f"not valid JSON ({error.msg} at column {error.colno})"
        forecasts = iter(forecast_batch(histories, pooling=not options["no_pooling"]))
        failures = 0
        for number in numbers:
            result = {"id": None, "error": unreadable[number]} if number in unreadable else next(forecasts)
            if "error" in result:
                failures += 1
                result["error"] = f"line {number}: {result['error']}"
            self.stdout.write(json.dumps(result))
        if failures:
            raise CommandError(f"{failures} line(s) could not be forecast")

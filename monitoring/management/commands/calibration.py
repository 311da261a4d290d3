"""Print how the stored forecasts did on the counts that arrived after them.

    python manage.py calibration [--json]

Per regimen and overall: scored counts, share inside the 80 % band, mean absolute log10 error,
mean PIT, and grade-4 forecasts against outcomes (clinic-wide aggregates, no patient data). The
JSON has the overall figures at the top (``n``, ``cover80``, ``mae_log10``, ...) and ``regimens``.
"""

import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from monitoring import selectors


class Command(BaseCommand):
    help = "Show how well stored forecasts matched the counts that arrived after them."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def handle(self, *args, **options):
        summary = selectors.calibration_summary(timezone.now())
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
            return
        self.stdout.write(f"{'regimen':<22} {'n':>6} {'cover80':>8} {'mae_log10':>10} {'PIT':>6}  grade 4 "
                          "(predicted+seen / predicted only / seen only / neither)")
        for row in [*summary["regimens"], {**summary, "regimen": "all regimens"}]:
            self.stdout.write(_line(row))


def _line(row: dict) -> str:
    def shown(value) -> str:
        return "-" if value is None else f"{value:.3f}"

    table = row["grade4"]
    return (f"{row['regimen']:<22} {row['n']:>6} {shown(row['cover80']):>8} {shown(row['mae_log10']):>10} "
            f"{shown(row['mean_pit']):>6}  {table['predicted_and_observed']} / {table['predicted_not_observed']} / "
            f"{table['observed_not_predicted']} / {table['neither']}")

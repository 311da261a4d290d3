"""Print a regimen's cycle-1 outlook simulated from its forecast prior over virtual patients.

    python manage.py regimen_outlook TC-Q3W --gcsf peg [--dose 0.8] [--json]

The prior is the regimen's learned one when the clinic has one, else the catalogue's literature
prior. ``grade4_incidence`` is the share of virtual patients with a nadir below 0.5 x10^9/L,
``dsn_days_mean`` the mean days below 0.5 (duration of severe neutropenia), ``p_ready_next_day1``
the share at or above the regimen's next-cycle ANC on day 1 of cycle 2. docs/forecasting.md puts
these beside published trial arms.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from monitoring.forecasts.whatif.outlook import OUTLOOK_KEYS, UnknownRegimen, outlook_for_code

LABELS = {
    "grade4_incidence": "grade 4 neutropenia (nadir < 0.5 x10^9/L)",
    "dsn_days_mean": "mean days below 0.5 x10^9/L (DSN)",
    "nadir_median": "median nadir (x10^9/L)",
    "nadir_day_median": "median nadir day",
    "p_ready_next_day1": "ready on the next day 1",
}


class Command(BaseCommand):
    help = "Simulate a regimen's first cycle over virtual patients from its forecast prior and print the outlook."

    def add_arguments(self, parser):
        parser.add_argument("code", help="catalogue regimen code, e.g. TC-Q3W")
        parser.add_argument("--gcsf", choices=["none", "peg", "filgrastim"], default="none",
                            help="none; pegfilgrastim on day 2; filgrastim daily on days 3-10")
        parser.add_argument("--dose", type=float, default=1.0,
                            help="fraction of the protocol dose, e.g. 0.8 for a 20 %% reduction")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        dose = options["dose"]
        if not 0 < dose <= 3:
            raise CommandError(f"--dose must be a fraction of the protocol dose in (0, 3], got {dose:g}")
        try:
            result = outlook_for_code(options["code"], gcsf=options["gcsf"], dose=dose)
        except UnknownRegimen:
            raise CommandError(f"no regimen with code {options['code']!r} in the catalogue") from None
        if options["json"]:
            keys = ("regimen", "gcsf", "dose", "n", *OUTLOOK_KEYS)
            self.stdout.write(json.dumps({key: result[key] for key in keys}))
            return
        self.stdout.write(f"{result['regimen']}, cycle 1, G-CSF {result['gcsf']}, dose {result['dose']:g} of protocol: "
                          f"{result['n']} virtual patients from the {result['prior']} prior")
        for key in OUTLOOK_KEYS:
            self.stdout.write(f"  {key:<18} {result[key]:<7g} {LABELS[key]}")

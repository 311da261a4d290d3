"""Print the alert burden: alerts raised per patient-cycle, by kind, on the demo and on a simulated cohort.

usage: python manage.py alert_burden [--demo] [--cohort 20] [--seed 21]

`--demo` counts the alerts of the demo patients (run `load_demo` first, on a fresh database).
`--cohort N` simulates N patients through 3 uncomplicated cycles each (no grade 3-4 count, no
fever, G-CSF on day 2 where the regimen's FN risk is high) over the real write paths
(`records.record_count`, `treatment.give_cycle`), with the worker's work done inline: a recompute
after each count and the sweep's evaluation every 6 hours of simulated time. Counts are alert rows
(each raise is a row; a re-raise after clearing is a new row), per started cycle. Writes to the
database it is given: run it on a scratch database (docs/alerts.md says how).
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.utils import timezone

from monitoring import alerts, clinical, forecasts, records, treatment
from monitoring.models import Alert, Cycle, Patient, Regimen, Team

COHORT_REGIMENS = ("DOCETAXEL-75-Q3W", "AC-Q3W", "CARBO-PACLI-Q3W", "TC-Q3W", "R-CHOP-21")
CYCLES = 3
SWEEP_EVERY = timedelta(hours=6)
# Uncomplicated: (cycle day, ANC x10^9/L) of the counts a clinic takes; the nadir stays grade 2 or better.
UNCOMPLICATED_COUNTS = ((-1, 4.2), (8, 1.9), (11, 1.6), (15, 2.6))


class Command(BaseCommand):
    help = "Print alerts per patient-cycle by kind, for the demo and for a simulated uncomplicated cohort."

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="Count the demo patients' alerts.")
        parser.add_argument("--cohort", type=int, default=0, help="Simulate this many uncomplicated patients.")
        parser.add_argument("--seed", type=int, default=21)

    def handle(self, *args, demo: bool = False, cohort: int = 0, seed: int = 21, **options):
        if demo:
            self._table("Demo (load_demo)", Patient.objects.filter(mrn__startswith="DEMO-"))
        if cohort:
            patients = simulate_cohort(cohort, random.Random(seed))
            self._table(f"Simulated uncomplicated cohort ({cohort} patients x {CYCLES} cycles)",
                        Patient.objects.filter(pk__in=[p.pk for p in patients]))

    def _table(self, title: str, patients) -> None:
        cycles = Cycle.objects.filter(course__patient__in=patients, actual_day1__isnull=False).count()
        by_kind = Counter(Alert.objects.filter(patient__in=patients).values_list("kind", flat=True))
        self.stdout.write(f"\n{title}: {cycles} started patient-cycles, {sum(by_kind.values())} alerts\n")
        self.stdout.write("| kind | alerts | per patient-cycle |\n|---|---:|---:|\n")
        for kind, label in Alert.Kind.choices:
            if by_kind.get(kind):
                self.stdout.write(f"| {label} | {by_kind[kind]} | {by_kind[kind] / max(cycles, 1):.2f} |\n")
        self.stdout.write(f"| **all** | {sum(by_kind.values())} | {sum(by_kind.values()) / max(cycles, 1):.2f} |\n")


def simulate_cohort(n: int, rng: random.Random) -> list[Patient]:
    """Put `n` patients through CYCLES uncomplicated cycles ending now; return them."""
    team, _ = Team.objects.get_or_create(name="Alert burden simulation")
    regimens = {r.code: r for r in Regimen.objects.filter(code__in=COHORT_REGIMENS)}
    now = timezone.now()
    patients, plan = [], []
    for index in range(n):
        regimen = regimens[COHORT_REGIMENS[index % len(COHORT_REGIMENS)]]
        patient, _ = Patient.objects.get_or_create(
            mrn=f"BURDEN-{index:03d}", defaults=dict(team=team, given_name="Sim", family_name=f"Patient {index}",
                                                     date_of_birth="1965-01-01", sex="F"))
        first_day1 = now - timedelta(days=regimen.cycle_length_days * CYCLES + rng.uniform(0, 3))
        course = treatment.start_course(patient, regimen, first_day1, CYCLES + 1)
        patients.append(patient)
        for cycle in course.cycles.order_by("number")[:CYCLES]:
            plan.append((cycle.planned_day1, "give", patient, cycle))
            if regimen.fn_risk == "high":
                plan.append((cycle.planned_day1 + timedelta(hours=26), "gcsf", patient, cycle))
            for day, anc in UNCOMPLICATED_COUNTS:
                noisy = anc * rng.uniform(0.9, 1.15)
                plan.append((cycle.planned_day1 + timedelta(days=day, hours=rng.uniform(0, 4)), f"count:{noisy:.2f}",
                             patient, cycle))
    _play(sorted(plan, key=lambda step: step[0]), now)
    return patients


def _play(plan: list, now) -> None:
    """Play the plan in time order, sweeping every SWEEP_EVERY of simulated time, up to now."""
    if not plan:
        return
    clock, index = plan[0][0], 0
    while clock <= now:
        while index < len(plan) and plan[index][0] <= clock:
            moment, action, patient, cycle = plan[index]
            _do(action, patient, cycle, moment)
            index += 1
        for cycle_id in alerts.cycles_to_sweep(clock):
            if Cycle.objects.filter(pk=cycle_id, course__patient__mrn__startswith="BURDEN-").exists():
                alerts.evaluate_alerts(cycle_id, clock)
        clock += SWEEP_EVERY


def _do(action: str, patient: Patient, cycle: Cycle, moment) -> None:
    cycle.refresh_from_db()
    if action == "give":
        treatment.give_cycle(cycle, moment, Decimal("1.00"))
    elif action == "gcsf":
        records.record_gcsf(patient, given_at=moment, product=clinical.PEGFILGRASTIM, dose=Decimal("6"),
                            dose_unit="mg")
    else:
        anc = Decimal(action.split(":")[1])
        records.record_count(patient, clinical.parse_count(collected_at=moment, unit="10^9/L", anc=anc,
                                                          accession=f"{patient.mrn}-{moment:%Y%m%d%H%M}"))
        forecasts.recompute_cycle(cycle.pk, now=moment)

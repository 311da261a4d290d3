"""Load demo data: two teams, two nurses, about 20 patients with serial counts ending today.

Idempotent: teams and users are matched by name, demo patients by their DEMO- MRN, so a
second run adds nothing. The counts follow a typical cycle shape (fall to a nadir in the
regimen's nadir window, recovery by the next day 1, a G-CSF spike after pegfilgrastim)
with seeded noise, so every run on the same day gives the same data.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring import clinical, forecasts
from monitoring.duty import demo as duty_demo
from monitoring.forecasts.replay import replay_patients
from monitoring.models import (
    ChemoAdministration,
    CountResult,
    Cycle,
    GcsfDose,
    Patient,
    Regimen,
    Team,
    TemperatureReading,
    TreatmentCourse,
    User,
)
from monitoring.models.results import Source

TEAMS = [("Oncology day unit",), ("Haematology ward",)]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    first_name: str
    last_name: str
    role: str
    teams: tuple[int, ...]  # indexes into TEAMS
    what: str  # printed by make run


# One account per role, so every page can be tried: nurses see their own team's patients; the
# oncologist also starts regimens and delays cycles; the administrator also enters the admin site.
ACCOUNTS = [
    DemoAccount("nurse", "Nora", "Bennett", User.Role.NURSE, (0,), "nurse, Oncology day unit"),
    DemoAccount("nurse2", "Hana", "Kowalski", User.Role.NURSE, (1,), "nurse, Haematology ward"),
    DemoAccount("oncologist", "Omar", "Farouk", User.Role.ONCOLOGIST, (0, 1), "oncologist, both teams"),
    DemoAccount("admin", "Ada", "Lindgren", User.Role.ADMIN, (0, 1), "administrator, both teams and /admin/"),
]


@dataclass(frozen=True)
class DemoPatient:
    given_name: str
    family_name: str
    born: str
    sex: str
    team: int
    regimen: str
    cycles_done: int  # cycles completed before the current one
    current_day: int  # day of the current cycle today
    depth: float  # fraction of the baseline lost at nadir (0.9 = grade 4 for most)
    gcsf: str = ""  # "", "pegfilgrastim" or "filgrastim"
    delayed_cycle: int = 0  # number of a past cycle that was delayed a week
    fever: bool = False
    prior_fn: bool = False


PATIENTS = [
    DemoPatient("Margaret", "Okafor", "1958-02-11", "F", 0, "DOCETAXEL-75-Q3W", 2, 8, 0.93, fever=True),
    DemoPatient("Helen", "Brandt", "1971-06-30", "F", 0, "TAC-Q3W", 3, 6, 0.85, gcsf="pegfilgrastim"),
    DemoPatient("Susan", "Achterberg", "1966-09-14", "F", 0, "AC-Q3W", 1, 11, 0.82),
    DemoPatient("Priya", "Raman", "1980-01-22", "F", 0, "TC-Q3W", 2, 4, 0.88),
    DemoPatient("John", "McAllister", "1952-12-03", "M", 0, "FOLFOX-Q2W", 4, 9, 0.62, delayed_cycle=3),
    DemoPatient("Ahmed", "Haddad", "1963-04-19", "M", 0, "FOLFIRINOX-Q2W", 3, 7, 0.8, gcsf="pegfilgrastim"),
    DemoPatient("Linda", "Sorensen", "1949-08-08", "F", 0, "CARBO-PACLI-Q3W", 2, 13, 0.8, prior_fn=True),
    DemoPatient("Wei", "Zhang", "1975-03-27", "M", 0, "GEM-CARBO-D1D8", 1, 15, 0.78),
    DemoPatient("Fatima", "Bello", "1985-11-05", "F", 0, "PACLITAXEL-WEEKLY", 6, 3, 0.35),
    DemoPatient("Claire", "Dubois", "1968-05-17", "F", 0, "DDAC-Q2W", 2, 5, 0.75, gcsf="pegfilgrastim"),
    DemoPatient("Robert", "Nowak", "1957-10-29", "M", 0, "DOCETAXEL-100-Q3W", 1, 10, 0.9, gcsf="filgrastim"),
    DemoPatient("Anne", "Kowalczyk", "1961-07-01", "F", 0, "DOCETAXEL-75-Q3W", 0, 2, 0.86),
    DemoPatient("Thomas", "Eriksen", "1959-01-15", "M", 1, "R-CHOP-21", 2, 9, 0.84),
    DemoPatient("Maria", "Gonzalez", "1972-02-25", "F", 1, "CHOP-14", 3, 7, 0.8, gcsf="pegfilgrastim"),
    DemoPatient("David", "Cohen", "1990-06-12", "M", 1, "ABVD", 1, 12, 0.7),
    DemoPatient("Grace", "Mensah", "1955-09-09", "F", 1, "R-CHOP-21", 4, 16, 0.8, delayed_cycle=2),
    DemoPatient("Peter", "Lindqvist", "1946-04-04", "M", 1, "CHOP-14", 1, 3, 0.82, gcsf="pegfilgrastim"),
    DemoPatient("Sofia", "Russo", "1983-12-20", "F", 1, "ABVD", 2, 20, 0.66),
    DemoPatient("James", "O'Brien", "1964-03-08", "M", 1, "R-CHOP-21", 0, 5, 0.85),
    DemoPatient("Yuki", "Tanaka", "1977-07-23", "F", 1, "CHOP-14", 2, 10, 0.78, gcsf="pegfilgrastim"),
]


def demo_anc(baseline: float, depth: float, day: float, nadir_day: float, gcsf: str, rng: random.Random) -> float:
    """Return a plausible ANC on `day` of a cycle: a dip to the nadir, a rebound, G-CSF effects."""
    width = 3.2
    dip = depth * math.exp(-(((day - nadir_day) / width) ** 2))
    rebound = 0.25 * math.exp(-(((day - nadir_day - 6) / 3.0) ** 2))
    anc = baseline * (1 - dip + rebound)
    if gcsf:
        # G-CSF lifts the nadir and gives an early spike that is not marrow recovery.
        anc = baseline * (1 - dip * 0.55 + rebound) + (4.0 * math.exp(-(((day - 3) / 1.2) ** 2)))
    return max(0.03, anc * math.exp(rng.gauss(0, 0.08)))


class Command(BaseCommand):
    help = "Load demo teams, nurses and patients (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Password for the demo nurses (default: generate and print one).")
        parser.add_argument("--no-replay", dest="replay", action="store_false",
                            help="Do not score the forecasts the demo's past would have had (faster; the "
                                 "calibration page then stays empty).")

    def handle(self, *args, password: str | None = None, replay: bool = True, **options):
        now = timezone.now()
        with transaction.atomic():
            teams = [Team.objects.get_or_create(name=name)[0] for name, *_ in TEAMS]
            for index, team in enumerate(teams):
                team.escalation_email = team.escalation_email or f"nurse-in-charge.{team.pk}@example.org"
                # Ofcom's drama ranges: numbers that can never reach a real person.
                team.on_call_phone = team.on_call_phone or f"01632 960{100 + index:03d}"
                team.save(update_fields=["escalation_email", "on_call_phone"])
            password_shown = self._users(teams, password)
            # Each team's day nurse is its own demo nurse (ACCOUNTS: the first nurse account of that team).
            day_nurses = [next(a.username for a in ACCOUNTS if a.role == User.Role.NURSE and a.teams == (i,))
                          for i in range(len(TEAMS))]
            duty_demo.load_rotas(teams, day_nurses)
            created = self._patients(teams, now)
        cycle_ids = list(
            Cycle.objects.filter(course__patient__mrn__startswith="DEMO-", course__active=True)
            .exclude(status=Cycle.Status.PLANNED, planned_day1__gt=now + timedelta(days=1))
            .values_list("pk", flat=True)
        )
        if created:
            for cycle_id in cycle_ids:
                forecasts.recompute_cycle(cycle_id, now=now)
            if replay:
                self._replay(now)
        self.stdout.write(
            f"Demo data: {created} patients created, {Patient.objects.filter(mrn__startswith='DEMO-').count()} in all."
        )
        self.stdout.write("Demo accounts (all with the same password):")
        for account in ACCOUNTS:
            self.stdout.write(f"  {account.username:<11} {account.what}")
        self.stdout.write(
            f"  password: {password_shown}" if password_shown else "  password: unchanged (use --password to set one)"
        )

    def _replay(self, now: datetime) -> None:
        """Score the forecasts made before each past count, so the calibration page has numbers."""
        started = time.monotonic()
        self.stdout.write("Scoring the forecasts the demo's past would have had (under a minute)...")
        patients = list(Patient.objects.filter(mrn__startswith="DEMO-").values_list("pk", flat=True))
        scored = replay_patients(patients, now)
        self.stdout.write(f"  {scored} forecasts scored against the counts that followed them "
                          f"({time.monotonic() - started:.0f} s).")

    def _users(self, teams: list[Team], password: str | None) -> str | None:
        """Create the demo accounts; return the password to print, or None if it is unchanged.

        Every demo account has the same password: --password sets it; without it, a run that has
        to create an account makes up a new one and sets it on all of them.
        """
        created_any = False
        users = []
        for account in ACCOUNTS:
            # update_or_create: a demo database from an older version gets the people's real names too.
            user, created = User.objects.update_or_create(
                username=account.username,
                defaults={"first_name": account.first_name, "last_name": account.last_name, "role": account.role},
            )
            user.teams.add(*(teams[i] for i in account.teams))
            if not user.email:
                # Reserved for examples (RFC 2606): the console backend prints what would reach them.
                User.objects.filter(pk=user.pk).update(email=f"{account.username}@neutrowatch.example")
                user.email = f"{account.username}@neutrowatch.example"
            created_any = created_any or created
            users.append(user)
        shown = password or (secrets.token_urlsafe(12) if created_any else None)
        if shown:
            for user in users:
                user.set_password(shown)
                user.save()
        return shown

    def _patients(self, teams: list[Team], now: datetime) -> int:
        regimens = {r.code: r for r in Regimen.objects.all()}
        nurses = {team.pk: team.members.filter(role=User.Role.NURSE).order_by("pk").first() for team in teams}
        created = 0
        for index, spec in enumerate(PATIENTS):
            mrn = f"DEMO-{index + 1:04d}"
            if Patient.objects.filter(mrn=mrn).exists():
                continue
            team = teams[spec.team]
            patient = Patient.objects.create(
                mrn=mrn,
                given_name=spec.given_name,
                family_name=spec.family_name,
                date_of_birth=spec.born,
                sex=spec.sex,
                phone=f"07700 900{index + 1:03d}",
                team=team,
                responsible_nurse=nurses[team.pk],
                prior_febrile_neutropenia=spec.prior_fn,
                advanced_disease=index % 3 == 0,
            )
            self._history(patient, regimens[spec.regimen], spec, now, random.Random(f"{mrn}-{now.date()}"))
            created += 1
        return created

    def _history(self, patient: Patient, regimen: Regimen, spec: DemoPatient, now: datetime, rng: random.Random):
        length = timedelta(days=regimen.cycle_length_days)
        today_day1 = (now - timedelta(days=spec.current_day - 1)).replace(hour=9, minute=0, second=0, microsecond=0)
        delay = timedelta(days=7) if spec.delayed_cycle else timedelta(0)
        first_day1 = today_day1 - length * spec.cycles_done - delay
        course = TreatmentCourse.objects.create(patient=patient, regimen=regimen, started_on=first_day1.date())
        baseline = rng.uniform(3.5, 6.5)
        nadir_day = (regimen.nadir_window_start_day + regimen.nadir_window_end_day) / 2
        counts, gcsf, day1, sampled = [], [], first_day1, set()
        for number in range(1, spec.cycles_done + 4):
            delayed = number == spec.delayed_cycle
            cycle = Cycle.objects.create(
                course=course,
                number=number,
                planned_day1=day1,
                delay_reason="ANC below 1.5 x10^9/L on planned day 1: delayed one week" if delayed else "",
            )
            if delayed:
                counts.append(self._count(patient, day1 - timedelta(hours=3), 1.1 + rng.uniform(0, 0.2)))
                day1 += delay
            if day1 <= now:
                self._give(cycle, regimen, day1, now, spec, gcsf, rng)
                days = [1, 5, 8, 11, 15] if number > spec.cycles_done else [1, 8, 15]
                for day in days:
                    at = day1 + timedelta(days=day - 1, hours=-2 if day == 1 else 1.5)
                    # Weekly regimens: a cycle's day 15 is the next one's day 8, one blood sample.
                    if at <= now and at not in sampled:
                        sampled.add(at)
                        anc = demo_anc(baseline, spec.depth, day, nadir_day, spec.gcsf, rng) if day > 1 else baseline
                        counts.append(self._count(patient, at, anc))
            day1 += length
        # With their history rows, as every write path stores results (issue 25: no bare bulk_create).
        bulk_create_with_history(counts, CountResult)
        bulk_create_with_history(gcsf, GcsfDose)
        if spec.fever:
            self._fever(patient, now)

    def _give(self, cycle, regimen, day1, now, spec, gcsf, rng):
        cycle.actual_day1 = day1
        cycle.status = Cycle.Status.GIVEN
        cycle.input_version = 1
        cycle.save()
        for day in regimen.chemo_days or [1]:
            at = day1 + timedelta(days=day - 1)
            if at <= now:
                ChemoAdministration.objects.create(
                    cycle=cycle, day_of_cycle=day, given_at=at, dose_fraction=Decimal("1.00")
                )
        # Pegfilgrastim 24 h after chemotherapy ends (the label): after a 5-FU pump, the day after it stops.
        peg_at = clinical.chemo_end(day1, regimen.infusion_hours) + timedelta(days=1, hours=2)
        if spec.gcsf == "pegfilgrastim" and peg_at <= now:
            gcsf.append(
                GcsfDose(
                    patient=cycle.course.patient,
                    product=clinical.PEGFILGRASTIM,
                    product_name="pegfilgrastim",
                    dose=Decimal("6"),
                    dose_unit="mg",
                    given_at=peg_at,
                    source=Source.DEMO,
                )
            )
        if spec.gcsf == "filgrastim":
            for day in range(3, 10):
                at = day1 + timedelta(days=day - 1, hours=1)
                if at <= now:
                    gcsf.append(
                        GcsfDose(
                            patient=cycle.course.patient,
                            product=clinical.FILGRASTIM,
                            product_name="filgrastim-sndz",
                            dose=Decimal("480"),
                            dose_unit="ug",
                            given_at=at,
                            source=Source.DEMO,
                        )
                    )

    def _count(self, patient: Patient, at: datetime, anc: float) -> CountResult:
        value = Decimal(str(round(anc, 2)))
        return CountResult(
            patient=patient,
            collected_at=at,
            anc_1e9_per_l=value,
            entered_value=str(value),
            entered_unit=clinical.UNIT_1E9_PER_L,
            source=Source.DEMO,
            ctcae_grade=clinical.ctcae_grade(value),
        )

    def _fever(self, patient: Patient, now: datetime) -> None:
        for hours_ago, temp in ((5, "37.4"), (2, "38.1"), (1, "38.6")):
            TemperatureReading.objects.create(
                patient=patient,
                taken_at=now - timedelta(hours=hours_ago),
                temperature_c=Decimal(temp),
                entered_value=temp,
                entered_unit="C",
                site=TemperatureReading.Site.TYMPANIC,
                source=Source.DEMO,
            )
        CountResult.objects.create(
            patient=patient,
            collected_at=now - timedelta(minutes=50),
            anc_1e9_per_l=Decimal("0.38"),
            entered_value="380",
            entered_unit=clinical.UNIT_PER_UL,
            source=Source.DEMO,
        )

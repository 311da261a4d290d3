"""The story patient and the writes that page, browser and ward tests share (through the real write paths)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from monitoring import clinical, forecasts, records, treatment
from monitoring.models import Alert, Cycle
from tests.conftest import make_patient, start_on_regimen


def add_count(patient, when, anc: str, unit: str = "10^9/L"):
    return records.record_count(patient, clinical.parse_count(collected_at=when, unit=unit, anc=Decimal(anc)))


def add_temperature(patient, when, celsius: str):
    value = Decimal(celsius)
    return records.record_temperature(
        patient, taken_at=when, temperature_c=clinical.to_celsius(value, "C"), entered_value=celsius, entered_unit="C"
    )


def add_gcsf(patient, when, product: str, dose: str, unit: str, name: str = ""):
    return records.record_gcsf(
        patient, product=product, dose=Decimal(dose), dose_unit=unit, given_at=when, product_name=name
    )


def raise_alert(patient, cycle, kind=Alert.Kind.GRADE4_OBSERVED, severity=Alert.Severity.CRITICAL, **fields):
    """Return the live alert of this condition with these fields, as the alert pipeline would store it.

    The save-time rules may already have raised it from a count the test saved: that one is updated.
    """
    defaults = dict(message=f"{Alert.Kind(kind).label} for {patient.mrn}", raised_at=timezone.now(),
                    evidence={"anc_1e9_per_l": 0.31, "collected_at": "2025-01-01T08:00"}, severity=severity)
    defaults.update(fields)
    alert, _ = Alert.objects.update_or_create(patient=patient, cycle=cycle, kind=kind, resolved_at=None,
                                              defaults=defaults)
    return alert


def build_story_patient(team, regimens, *, mrn: str = "STORY1", family_name: str = "Story", forecast: bool = True):
    """Return a patient on docetaxel q3w in cycle 3 (day 6), with two finished cycles of data.

    Cycle 1: nadir 0.4 (grade 4) on day 8, pegfilgrastim day 2. Cycle 2: nadir 0.9 (grade 3),
    a fever of 38.6 C on day 9, filgrastim days 9-11. Cycle 3 (80 % dose): pegfilgrastim day 2,
    one count on day 5, and a real forecast (the engine, synchronously).
    """
    patient = make_patient(team, mrn=mrn, family_name=family_name, given_name="Alice")
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=47, n_cycles=4)
    day1 = cycle1.day1
    cycles = list(Cycle.objects.filter(course=cycle1.course).order_by("number"))
    treatment.give_cycle(cycles[1], day1 + timedelta(days=21), Decimal("1.00"))
    treatment.give_cycle(cycles[2], day1 + timedelta(days=42), Decimal("0.80"))
    for start, values in ((day1, ["4.8", "2.1", "0.4", "1.2", "3.9"]), (day1 + timedelta(days=21), ["4.1", "1.6", "0.9",
                                                                                                    "1.9", "4.4"])):
        for day, anc in zip((0, 4, 7, 11, 20), values, strict=True):
            add_count(patient, start + timedelta(days=day, hours=-2), anc)
    add_gcsf(patient, day1 + timedelta(days=1), clinical.PEGFILGRASTIM, "6", "mg", "Neulasta")
    for day in (8, 9, 10):
        add_gcsf(patient, day1 + timedelta(days=21 + day), clinical.FILGRASTIM, "300", "ug", "filgrastim-sndz")
    add_temperature(patient, day1 + timedelta(days=29), "37.1")
    add_temperature(patient, day1 + timedelta(days=29, hours=6), "38.6")
    add_temperature(patient, day1 + timedelta(days=30), "37.4")
    add_count(patient, day1 + timedelta(days=42, hours=-2), "4.6")
    add_gcsf(patient, day1 + timedelta(days=43), clinical.PEGFILGRASTIM, "6", "mg", "pegfilgrastim-jmdb")
    add_count(patient, day1 + timedelta(days=46), "2.2")
    if forecast:
        for cycle in cycles[:3]:
            forecasts.recompute_cycle(cycle.pk)
    return patient, cycles


def form_moment(hours_ago: float = 1) -> str:
    """Return a moment some hours ago as a datetime-local form field reads it (clinic time)."""
    return timezone.localtime(timezone.now() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")


def post_count(client, patient, **data):
    payload = {
        "collected_at": form_moment(),
        "unit": "10^9/L",
        "anc": "",
        "wbc": "",
        "neutrophil_pct": "",
        "band_pct": "",
        "accession": "",
    }
    payload.update(data)
    return client.post(reverse("count_new", args=[patient.pk]), payload)


def add_grade4(patient, hours_ago: float = 1, accession: str = "", value: str = "0.3"):
    """Record a count of 0.3 (grade 4) taken some hours ago through the write path."""
    return records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L", anc=Decimal(value),
        accession=accession))

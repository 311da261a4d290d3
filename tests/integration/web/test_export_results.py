"""export_results: import-format CSV out, and importing it back adds nothing."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitoring import clinical, records
from monitoring.labfeed import importers
from monitoring.models import AccessLog, CountResult, GcsfDose, TemperatureReading
from monitoring.models.results import Source
from tests.conftest import make_patient

pytestmark = pytest.mark.django_db


def _export(*args) -> str:
    out = StringIO()
    call_command("export_results", *args, stdout=out)
    return out.getvalue()


def _fill(patient, accession: str = "X1") -> None:
    now = timezone.now()
    records.record_counts(patient, [
        clinical.parse_count(collected_at=now - timedelta(days=3), unit="/uL", anc=Decimal("850"), accession=accession),
        clinical.parse_count(collected_at=now - timedelta(days=2), unit="K/uL", wbc=Decimal("3.2"),
                             neutrophil_pct=Decimal("40"), band_pct=Decimal("2.5")),
    ])
    records.record_temperature(patient, taken_at=now - timedelta(days=1), temperature_c=Decimal("38.20"),
                                entered_value="38.2", entered_unit="C")
    records.record_gcsf(patient, product="filgrastim", product_name="Zarxio", dose=Decimal("300"), dose_unit="ug",
                         given_at=now - timedelta(days=2, hours=5))


def test_export_is_import_format_in_1e9_per_l(patient):
    _fill(patient)
    rows = list(csv.DictReader(StringIO(_export("--mrn", "MRN001"))))
    assert len(rows) == 4
    counts = [r for r in rows if r["anc"]]
    assert {r["unit"] for r in counts} == {"10^9/L"}
    assert [Decimal(r["anc"]) for r in counts] == [Decimal("0.850"), Decimal("1.360")]
    assert AccessLog.objects.filter(patient=patient, action=AccessLog.Action.EXPORT).count() == 1


def test_round_trip_export_then_import_adds_nothing(patient, other_patient):
    _fill(patient)
    _fill(other_patient, accession="X2")
    text = _export()
    before = (CountResult.objects.count(), TemperatureReading.objects.count(), GcsfDose.objects.count())
    report = importers.import_file("export.csv", text.encode(), source=Source.IMPORT)
    assert report.ok, report.problems
    assert report.created == 0 and report.duplicates == 8
    assert (CountResult.objects.count(), TemperatureReading.objects.count(), GcsfDose.objects.count()) == before


def test_export_imports_into_an_empty_system_identically(patient):
    _fill(patient)
    text = _export("--mrn", "MRN001")
    original = sorted(CountResult.objects.values_list("collected_at", "anc_1e9_per_l"))
    CountResult.objects.all().delete()
    TemperatureReading.objects.all().delete()
    GcsfDose.objects.all().delete()
    report = importers.import_file("export.csv", text.encode(), source=Source.IMPORT)
    assert report.ok and report.created == 4
    assert sorted(CountResult.objects.values_list("collected_at", "anc_1e9_per_l")) == original


def test_export_scoped_to_a_users_teams(patient, other_patient, other_nurse):
    _fill(patient)
    text = _export("--user", other_nurse.username)
    assert "MRN001" not in text
    with pytest.raises(CommandError):
        _export("--mrn", "MRN001", "--user", other_nurse.username)


def test_unknown_mrn_is_an_error(team):
    make_patient(team, mrn="MRN002")
    with pytest.raises(CommandError, match="NOPE"):
        _export("--mrn", "NOPE")


def test_results_leave_in_the_order_they_were_taken_across_the_autumn_clock_change(patient):
    # 01:30 BST is 00:30 UTC; 01:10 GMT, forty minutes later, is 01:10 UTC. Sorted as text,
    # "2026-10-25T01:10:00+00:00" came before "2026-10-25T01:30:00+01:00".
    first, second = datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 10, tzinfo=UTC)
    for at, anc in ((first, "2.1"), (second, "1.9")):
        records.record_count(patient, clinical.parse_count(collected_at=at, unit="10^9/L", anc=Decimal(anc)))
    rows = list(csv.DictReader(StringIO(_export("--mrn", patient.mrn))))
    assert [(row["collected_at"], row["anc"]) for row in rows] == [
        ("2026-10-25T01:30:00+01:00", "2.100"), ("2026-10-25T01:10:00+00:00", "1.900")]

"""A laboratory may send one blood count as two orders (OBRs) of one specimen: the full blood count
(WBC, haemoglobin) and the differential (neutrophils). They make one count; alone, the first is not
a count and kept the whole message (and its grade 4) out."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring.labfeed import importers
from monitoring.models import Alert, CountResult, ImportException
from monitoring.models.results import Source

pytestmark = pytest.mark.django_db
NOW = timezone.now()  # one clock: HL7 times are to the minute


def _at(hours: float) -> str:
    return timezone.localtime(NOW - timedelta(hours=hours)).strftime("%Y%m%d%H%M%z")


def _message(*orders: tuple[str, float, list[str]], control: str = "S1") -> str:
    lines = [f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{_at(0)}||ORU^R01|{control}|P|2.5.1", "PID|1||MRN001^^^HOSP^MR"]
    for number, (accession, hours, observations) in enumerate(orders, 1):
        lines.append(f"OBR|{number}||{accession}|58410-2^CBC^LN|||{_at(hours)}")
        lines += [f"OBX|{k}|NM|{obx}|||||F" for k, obx in enumerate(observations, 1)]
    return "\r".join(lines) + "\r"


def _import(text: str):
    return importers.import_file("lab.hl7", text.encode(), source=Source.IMPORT, fmt="hl7")


WBC, HB = "6690-2^WBC^LN||1.1|10*3/uL", "718-7^Hemoglobin^LN||10.1|g/dL"
ANC, PCT = "751-8^Neutrophils^LN||0.3|10*3/uL", "770-8^Neutrophils/100 WBC^LN||20|%"


def test_a_cbc_and_its_differential_in_two_orders_make_one_count_and_a_grade_4_alert(patient, cycle):
    report = _import(_message(("CBC-1", 3, [WBC, HB]), ("DIFF-1", 3, [ANC])))
    assert report.ok, report.problems
    count = CountResult.objects.get()
    assert (count.accession, count.anc_1e9_per_l, count.wbc_1e9_per_l) == ("CBC-1", Decimal("0.300"), Decimal("1.100"))
    assert Alert.objects.filter(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED).exists()
    assert not ImportException.objects.exists()
    again = _import(_message(("CBC-1", 3, [WBC, HB]), ("DIFF-1", 3, [ANC])))
    assert again.ok and again.duplicates == 1 and CountResult.objects.count() == 1


def test_a_neutrophil_percentage_in_the_differential_uses_the_wbc_of_the_cbc(patient):
    report = _import(_message(("CBC-2", 3, [WBC]), ("DIFF-2", 3, [PCT])))
    assert report.ok, report.problems
    assert CountResult.objects.get().anc_1e9_per_l == Decimal("0.220")  # 1.1 x 20 %


def test_two_complete_counts_or_two_times_stay_two_counts(patient):
    report = _import(_message(("A-1", 30, [ANC]), ("A-2", 3, [WBC, PCT])))
    assert report.ok and sorted(CountResult.objects.values_list("accession", flat=True)) == ["A-1", "A-2"]


def test_one_specimen_with_two_different_wbc_values_is_kept_for_review(patient):
    other_wbc = "6690-2^WBC^LN||1.4|10*3/uL"
    report = _import(_message(("C-1", 3, [WBC]), ("C-2", 3, [other_wbc, PCT])))
    assert [p.field for p in report.problems] == ["OBX-5 (6690-2)"]
    assert "for one specimen" in report.problems[0].reason
    assert not CountResult.objects.exists() and ImportException.objects.count() == 1

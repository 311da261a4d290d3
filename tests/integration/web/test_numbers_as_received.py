"""Issue 21, item 9: a censored count reads "<0.1" everywhere: the alert, the evidence, the record-given
form, the patient page, the chart's hover text and both exports; a forecast is never shown rounded across a
grade boundary."""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from monitoring import charts, clinical, records, selectors, treatment
from monitoring.labfeed import importers
from monitoring.models import Alert
from monitoring.models.results import Source
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


def test_a_censored_count_reads_lt_01_everywhere(nurse_client, patient, regimens):
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=20)
    at = timezone.localtime(timezone.now() - timedelta(hours=2)).isoformat(timespec="minutes")
    importers.import_file("c.csv", f"mrn,collected_at,anc,unit,accession\nMRN001,{at},<0.1,10^9/L,C-1\n",
                          source=Source.IMPORT)
    alert = Alert.objects.get(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED)
    assert alert.message.startswith("ANC <0.1 x10^9/L on ")
    assert alert.evidence["anc_as_received"] == "<0.1"
    inbox = nurse_client.get("/alerts/").content.decode()
    assert "ANC &lt;0.1 ×10⁹/L" in inbox  # units as people write them (issue 22)
    page = nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    assert "&lt;0.1" in page and "0.100" not in page.split('id="counts-table"')[1].split("</table>")[0]
    hover = [t for cycle in selectors.patient_page(patient, timezone.now()).cycles
             for trace in charts.cycle_figure(cycle, timezone.now())["data"] if trace.get("meta") == "counts"
             for t in trace["hovertext"]]
    assert hover and all("ANC <0.1 x10⁹/L<br>" in text for text in hover)
    cycle2 = cycle1.course.cycles.get(number=2)
    give_page = nurse_client.get(reverse("cycle_give", args=[cycle2.pk])).content.decode()
    assert "The last pre-dose ANC, &lt;0.1 x10^9/L" in give_page
    out = StringIO()
    call_command("export_results", stdout=out)
    assert [row["anc"] for row in csv.DictReader(StringIO(out.getvalue())) if row["anc"]] == ["<0.1"]
    summary = nurse_client.get(reverse("cycle_summary_csv", args=[patient.pk])).content.decode()
    assert "<0.1" in summary


def test_an_earlier_cycles_censored_nadir_reads_lt_01_in_its_summary(nurse_client, patient, regimens):
    # The folded earlier cycle's summary said "nadir 0.1" where its chart says "Observed nadir <0.1".
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=30)
    records.record_count(patient, clinical.parse_count(collected_at=timezone.now() - timedelta(days=22),
                                                        unit="10^9/L", anc=Decimal("0.1"), qualifier="<"))
    records.record_count(patient, clinical.parse_count(collected_at=timezone.now() - timedelta(days=9, hours=2),
                                                        unit="10^9/L", anc=Decimal("2.4")))
    treatment.give_cycle(cycle1.course.cycles.get(number=2), timezone.now() - timedelta(days=9))
    page = nurse_client.get(reverse("patient", args=[patient.pk])).content.decode()
    summary = page.split('<details class="earlier-cycle">')[1].split("</summary>")[0]
    assert "Cycle 1" in summary and "nadir &lt;0.1 x10<sup>9</sup>/L" in summary

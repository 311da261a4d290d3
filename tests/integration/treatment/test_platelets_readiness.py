"""Issue 21, item 7: readiness at save time, with platelets. Platelet counts (LOINC 777-3, 26515-7) are stored
from every feed and form in 10^9/L; a pre-dose count decides "not ready" when it is saved (before or after the
planned day-1 time while chemotherapy is not given yet), with the regimen's platelet threshold (default 100);
the record-given guard names low platelets; platelets < 25 x10^9/L raise grade 4 thrombocytopenia. No worker."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import clinical, records
from monitoring.labfeed import importers
from monitoring.models import Alert, ApiToken, CountResult, Cycle
from monitoring.models.results import Source
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def _local(hours_ago: float) -> str:
    return timezone.localtime(NOW - timedelta(hours=hours_ago)).isoformat(timespec="minutes")


def count(patient, anc: str, hours_ago: float, platelets: str | None = None):
    records.record_count(patient, clinical.parse_count(
        collected_at=NOW - timedelta(hours=hours_ago), unit="10^9/L", anc=Decimal(anc),
        platelets=Decimal(platelets) if platelets else None))


def not_ready(cycle):
    return Alert.objects.filter(cycle=cycle, kind=Alert.Kind.NOT_READY, resolved_at__isnull=True)


@pytest.fixture
def cycle1(patient, regimens):
    """Cycle 1 of docetaxel given 20 days ago: cycle 2 is planned for tomorrow."""
    return start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=20)


def test_platelets_from_the_form_csv_hl7_and_fhir_are_stored_in_1e9_per_l(nurse_client, patient, cycle1, team):
    nurse_client.post(f"/patients/{patient.pk}/counts/new/", {
        "collected_at": timezone.localtime(NOW - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M"),
        "unit": "10^9/L", "anc": "2.5", "platelets": "180"})
    importers.import_file("c.csv", f"mrn,collected_at,anc,platelets,unit,accession\nMRN001,{_local(29)},2400,"
                          "170000,cells/uL,P-CSV\n", source=Source.IMPORT)
    moment = timezone.localtime(NOW - timedelta(hours=28)).strftime("%Y%m%d%H%M%z")
    hl7 = "\r".join([f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{moment}||ORU^R01|P-1|P|2.5.1", "PID|1||MRN001^^^HOSP^MR",
                     f"OBR|1||P-HL7||||{moment}", "OBX|1|NM|751-8^Neutrophils^LN||2.3|10*3/uL|||||F",
                     "OBX|2|NM|777-3^Platelets^LN||160|10*3/uL|||||F"]) + "\r"
    assert importers.import_file("p.hl7", hl7.encode(), source=Source.MLLP, fmt="hl7").ok
    _, token = ApiToken.issue("lab", [team])
    when = timezone.localtime(NOW - timedelta(hours=27)).isoformat(timespec="seconds")
    panel = {"resourceType": "Observation", "id": "cbc-1", "status": "final",
             "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2"}]},
             "subject": {"identifier": {"value": "MRN001"}}, "effectiveDateTime": when,
             "component": [
                 {"code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
                  "valueQuantity": {"value": 2.2, "system": "http://unitsofmeasure.org", "code": "10*9/L"}},
                 {"code": {"coding": [{"system": "http://loinc.org", "code": "26515-7"}]},
                  "valueQuantity": {"value": 150, "system": "http://unitsofmeasure.org", "code": "10*9/L"}}]}
    response = nurse_client.post("/api/v1/results", json.dumps(panel), content_type="application/fhir+json",
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (200, 201, 202), response.content
    stored = list(CountResult.objects.order_by("collected_at").values_list("platelets_1e9_per_l", flat=True))
    assert stored == [Decimal("180.000"), Decimal("170.000"), Decimal("160.000"), Decimal("150.000")]
    page = nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Platelets" in page and "170" in page


def test_a_low_pre_dose_anc_is_not_ready_when_saved_without_a_worker(patient, cycle1):
    count(patient, "1.1", hours_ago=2, platelets="180")
    alert = not_ready(cycle1).get()
    assert "pre-dose ANC 1.100 x10^9/L" in alert.message and "platelets" not in alert.message
    count(patient, "1.9", hours_ago=1, platelets="190")  # a better pre-dose count: ready again
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_low_platelets_alone_make_the_patient_not_ready_at_the_regimen_threshold(patient, cycle1):
    count(patient, "2.6", hours_ago=2, platelets="85")
    alert = not_ready(cycle1).get()
    assert "pre-dose platelets 85 x10^9/L" in alert.message and "are below 100" in alert.message
    assert alert.evidence["platelet_threshold_1e9_per_l"] == "100.0"


def test_the_platelet_threshold_is_a_regimen_setting(patient, cycle1):
    regimen = cycle1.course.regimen
    regimen.next_cycle_platelets_1e9_per_l = Decimal("75")
    regimen.save()
    count(patient, "2.6", hours_ago=2, platelets="85")
    assert not not_ready(cycle1).exists()


def test_a_pre_dose_count_taken_after_the_planned_time_still_decides_readiness_at_save_time(patient, regimens):
    # Cycle 2 was planned 6 hours ago and not given yet; the count is taken now.
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=21.25)
    count(patient, "0.9", hours_ago=0.5)
    alert = not_ready(cycle1).get()
    assert "Not ready for cycle 2" in alert.message


def test_grade_4_thrombocytopenia_is_an_observed_alert_that_clears(patient, cycle1):
    count(patient, "2.0", hours_ago=200, platelets="18")
    alert = Alert.objects.get(patient=patient, kind=Alert.Kind.PLATELETS_GRADE4)
    assert alert.severity == Alert.Severity.HIGH and alert.cycle == cycle1
    assert "Platelets 18 x10^9/L" in alert.message and "grade 4 thrombocytopenia" in alert.message
    count(patient, "2.1", hours_ago=190, platelets="25")  # exactly 25 is grade 3 (CTCAE: < 25 is grade 4)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_the_record_given_guard_names_low_platelets(nurse_client, patient, cycle1):
    cycle2 = cycle1.course.cycles.get(number=2)
    count(patient, "2.4", hours_ago=20, platelets="62")
    given_at = timezone.localtime(NOW).strftime("%Y-%m-%dT%H:%M")
    response = nurse_client.post(reverse("cycle_give", args=[cycle2.pk]), {
        "given_at": given_at, "dose_fraction": "1.00", "override_reason": ""})
    assert response.status_code == 200
    assert "The last pre-dose platelet count, 62 x10^9/L" in response.content.decode()
    cycle2.refresh_from_db()
    assert cycle2.status != Cycle.Status.GIVEN

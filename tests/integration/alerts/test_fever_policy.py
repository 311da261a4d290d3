"""Issue 21, item 6: the fever policy. The default is NICE CG151 (> 38.0 C with ANC <= 0.5) together with
IDSA 2010 / CTCAE (>= 38.3 C once, or >= 38.0 C sustained over an hour); a local policy is a setting named
on the alert; the post-chemotherapy fever window is a setting (default 6 weeks) with the same answer whether
the course is active or ended. Over the nurse's form, the CSV import and HL7, with no worker."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import clinical, records, treatment
from monitoring.labfeed import importers
from monitoring.models import Alert
from monitoring.models.results import Source
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _fn(patient):
    return Alert.objects.filter(patient=patient, kind=Alert.Kind.FEBRILE_NEUTROPENIA, resolved_at__isnull=True)


def test_anc_03_then_382_typed_on_the_form_is_febrile_neutropenia_at_once(nurse_client, patient, cycle):
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=3), unit="10^9/L", anc=Decimal("0.3")))
    response = nurse_client.post(f"/patients/{patient.pk}/temperatures/new/", {
        "taken_at": _local(timezone.now() - timedelta(minutes=5)), "value": "38.2", "unit": "C", "site": "oral"})
    assert response.status_code == 302
    alert = _fn(patient).get()
    assert alert.severity == Alert.Severity.CRITICAL
    assert "fever policy: NICE CG151 with IDSA 2010 / CTCAE v5.0" in alert.message
    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_RECHECK, resolved_at__isnull=True).exists()


def test_the_idsa_policy_is_a_setting_named_on_the_alert(patient, cycle, settings):
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "FEVER_POLICY": "idsa"}
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=3), unit="10^9/L", anc=Decimal("0.3")))
    header = "mrn,collected_at,temperature,temperature_unit,accession"
    first = _local(timezone.now() - timedelta(minutes=50))
    importers.import_file("t.csv", f"{header}\nMRN001,{first},38.2,C,T-1\n", source=Source.IMPORT)
    assert not _fn(patient).exists()  # IDSA alone: 38.2 once asks for a re-check
    assert Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_RECHECK).exists()
    second = _local(timezone.now() - timedelta(minutes=5))
    importers.import_file("t.csv", f"{header}\nMRN001,{second},38.1,C,T-2\n", source=Source.IMPORT)
    alert = _fn(patient).get()  # sustained: the re-check confirms it
    assert alert.evidence["fever_criterion"] == "38_sustained"
    assert "IDSA 2010 / CTCAE v5.0 (local policy)" in alert.message


def test_the_nice_setting_keeps_the_sustained_rule_over_hl7(patient, cycle, settings):
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "FEVER_POLICY": "nice"}
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=3), unit="10^9/L", anc=Decimal("0.4")))

    def reading(control: str, minutes_ago: int) -> bytes:
        moment = timezone.localtime(timezone.now() - timedelta(minutes=minutes_ago)).strftime("%Y%m%d%H%M%z")
        return ("\r".join([f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{moment}||ORU^R01|{control}|P|2.5.1",
                           "PID|1||MRN001^^^HOSP^MR", f"OBR|1||{control}-A||||{moment}",
                           "OBX|1|NM|8310-5^Body temperature^LN||38.0|Cel|||||F"]) + "\r").encode()

    importers.import_file("a.hl7", reading("N-1", 70), source=Source.MLLP, fmt="hl7")
    assert not _fn(patient).exists()  # exactly 38.0: not "higher than 38"
    importers.import_file("b.hl7", reading("N-2", 5), source=Source.MLLP, fmt="hl7")
    alert = _fn(patient).get()
    assert alert.evidence["fever_policy"] == "nice" and alert.evidence["fever_criterion"] == "38_sustained"


@pytest.mark.parametrize("days_ago, alerted", [(35, True), (43, False)])
def test_the_post_chemotherapy_window_gives_the_same_answer_for_an_active_or_an_ended_course(
        patient, other_patient, regimens, days_ago, alerted):
    # One patient whose course goes on (cycle 2 delayed, not given), one whose course has ended.
    active = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=days_ago, n_cycles=3)
    second = active.course.cycles.get(number=2)
    treatment.delay_cycle(second, timezone.now() + timedelta(days=3), "counts not recovered")
    ended = start_on_regimen(other_patient, regimens["DOCETAXEL-75-Q3W"], days_ago=days_ago, n_cycles=1)
    ended.course.active = False
    ended.course.save(update_fields=["active"])
    for who in (patient, other_patient):
        records.record_temperature(who, taken_at=timezone.now() - timedelta(minutes=5),
                                   temperature_c=Decimal("38.6"), entered_value="38.6", entered_unit="C")
    told = [Alert.objects.filter(patient=who, kind=Alert.Kind.FEVER_UNKNOWN_ANC).exists()
            for who in (patient, other_patient)]
    assert told == [alerted, alerted]


def test_the_window_is_a_setting(patient, regimens, settings):
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "POST_CHEMO_FEVER_WINDOW_DAYS": 30}
    ended = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=35, n_cycles=1)
    ended.course.active = False
    ended.course.save(update_fields=["active"])
    records.record_temperature(patient, taken_at=timezone.now() - timedelta(minutes=5),
                               temperature_c=Decimal("38.6"), entered_value="38.6", entered_unit="C")
    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC).exists()

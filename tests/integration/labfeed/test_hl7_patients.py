"""An ORU^R01 may carry several patients (PATIENT_RESULT repeats): each OBR belongs to the PID above
it, and each patient's results are a unit of acceptance of their own, in a file and over MLLP."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring.labfeed import exceptions_queue, importers
from monitoring.labfeed.mllp import process_message
from monitoring.models import Alert, CountResult, ImportException
from monitoring.models.results import Source
from tests.conftest import make_patient

pytestmark = pytest.mark.django_db
NOW = timezone.now()  # one clock: HL7 times are to the minute


def _moment(hours: float = 3) -> str:
    return timezone.localtime(NOW - timedelta(hours=hours)).strftime("%Y%m%d%H%M%z")


def _patient_result(mrn: str, accession: str, anc: str) -> list[str]:
    return [f"PID|1||{mrn}^^^HOSP^MR", f"OBR|1||{accession}||||{_moment()}",
            f"OBX|1|NM|751-8^Neutrophils^LN||{anc}|10*3/uL|||||F"]


def _message(*groups: list[str], control: str = "MULTI-1") -> str:
    return "\r".join([f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{_moment(0)}||ORU^R01|{control}|P|2.5.1",
                      *(segment for group in groups for segment in group)]) + "\r"


@pytest.fixture
def second_patient(team):
    return make_patient(team, mrn="MRN002", given_name="Grace", family_name="Hopper")


def test_each_count_goes_to_the_patient_whose_pid_is_above_it(patient, second_patient, cycle):
    text = _message(_patient_result("MRN002", "B-1", "1.80"), _patient_result("MRN001", "A-1", "0.30"))
    report = importers.import_file("two.hl7", text.encode(), source=Source.IMPORT, fmt="hl7")
    assert report.ok, report.problems
    # Before: every OBR went to the first PID's patient (the grade 4 stored as the other patient's).
    assert CountResult.objects.get(accession="A-1").patient == patient
    assert CountResult.objects.get(accession="B-1").patient == second_patient
    assert report.stored == 2
    # The grade 4 is the first patient's, alerted on her and not on the other.
    assert Alert.objects.filter(kind=Alert.Kind.GRADE4_OBSERVED).get().patient == patient


def test_an_unknown_patient_keeps_back_only_her_own_results(patient, cycle, nurse):
    text = _message(_patient_result("NOBODY", "N-1", "2.00"), _patient_result("MRN001", "A-1", "0.30"))
    answer = process_message(text.encode(), "test", retry_seconds=0)
    assert answer.code == "AE"  # the message as a whole: one part of it is kept for review
    ack = answer.ack.decode()
    assert "patient 1" in ack and "NOBODY" in ack
    assert list(CountResult.objects.values_list("accession", "patient__mrn")) == [("A-1", "MRN001")]
    assert Alert.objects.filter(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED).exists()
    kept = ImportException.objects.get()
    # What is kept is that patient's part alone, re-importable once she is registered.
    assert "NOBODY" in kept.raw and "MRN001" not in kept.raw and kept.raw.startswith("MSH|")
    again = process_message(text.encode(), "test", retry_seconds=0)  # the laboratory sends it again
    assert again.code == "AE" and ImportException.objects.count() == 1 and CountResult.objects.count() == 1
    # Registered later in the team, her part is re-tried by a nurse of the team and stored as hers.

    newcomer = make_patient(patient.team, mrn="NOBODY", given_name="Nora", family_name="Body")
    assert exceptions_queue.retry(kept.pk, nurse).done
    assert CountResult.objects.get(accession="N-1").patient == newcomer


def test_a_result_before_any_pid_refuses_the_message(patient):
    text = "\r".join([f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{_moment(0)}||ORU^R01|X-1|P|2.5.1",
                      f"OBR|1||X-1||||{_moment()}", "OBX|1|NM|751-8^Neutrophils^LN||0.3|10*3/uL|||||F",
                      *_patient_result("MRN001", "A-1", "1.0")]) + "\r"
    report = importers.import_file("odd.hl7", text.encode(), source=Source.IMPORT, fmt="hl7")
    assert [(p.field, "before the PID" in p.reason) for p in report.problems] == [("OBR", True)]
    assert not CountResult.objects.exists()
    assert ImportException.objects.count() == 1  # kept for review, not lost


def test_one_patient_messages_are_read_as_before(patient):
    report = importers.import_file("one.hl7", _message(_patient_result("MRN001", "A-1", "1.20")).encode(),
                                   source=Source.IMPORT, fmt="hl7")
    assert report.ok and report.stored == 1 and report.outcome("message 1").stored
    assert CountResult.objects.get().anc_1e9_per_l == Decimal("1.200")


def test_results_without_order_numbers_are_told_apart_by_patient(patient, second_patient):
    # No OBR-3 or OBR-2: a result is known by MSH-10 and OBR-1, and both patients' OBR-1 is 1.
    text = _message(_patient_result("MRN001", "", "1.10"), _patient_result("MRN002", "", "2.20"))
    first = importers.import_file("a.hl7", text.encode(), source=Source.IMPORT, fmt="hl7")
    assert first.ok and first.stored == 2, first.problems
    assert sorted(CountResult.objects.values_list("patient__mrn", "accession")) == [
        ("MRN001", "MULTI-1-P1-1"), ("MRN002", "MULTI-1-P2-1")]
    again = importers.import_file("a.hl7", text.encode(), source=Source.IMPORT, fmt="hl7")
    assert again.ok and again.stored == 0 and again.duplicates == 2


def test_a_batch_of_messages_answers_each_with_its_patients_outcome(patient, second_patient):
    from monitoring.labfeed.mllp import process_blocks

    blocks = [
        _message(_patient_result("MRN001", "A-1", "1.10"), _patient_result("NOBODY", "N-1", "2.0"), control="M1"),
        _message(_patient_result("MRN002", "B-1", "2.20"), _patient_result("MRN001", "A-2", "1.30"), control="M2"),
        _message(_patient_result("MRN002", "B-2", "2.40"), control="M3"),
    ]
    answers = process_blocks([block.encode() for block in blocks], "test", retry_seconds=0)
    assert [(a.code, a.control_id) for a in answers] == [("AE", "M1"), ("AA", "M2"), ("AA", "M3")]
    assert sorted(CountResult.objects.values_list("accession", "patient__mrn")) == [
        ("A-1", "MRN001"), ("A-2", "MRN001"), ("B-1", "MRN002"), ("B-2", "MRN002")]

"""Importing results files: each format's happy path, corrections, duplicates, and whole-file refusal."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitoring.labfeed import importers
from monitoring.models import Alert, CountResult, Cycle, GcsfDose, TemperatureReading
from monitoring.models.results import Source

pytestmark = pytest.mark.django_db


# One clock for the module's CSV and HL7 times (minute resolution): a record built twice must say the
# same, even across a minute boundary (a minute apart it would be a conflict, not a duplicate).
NOW = timezone.now()


def _csv(*rows: str, header: str = "mrn,collected_at,anc,wbc,neutrophil_pct,band_pct,unit,accession") -> str:
    return "\n".join([header, *rows]) + "\n"


def _ago(days: float) -> str:
    # With the UTC offset: a bare local time in the hour the clocks go back is refused as ambiguous.
    # The module's one clock (NOW): a row built twice must say the same across a minute boundary.
    return timezone.localtime(NOW - timedelta(days=days)).isoformat(timespec="minutes")


def _import(text: str, name: str = "results.csv", **kwargs):
    kwargs.setdefault("all_or_nothing", False)
    return importers.import_file(name, text.encode(), source=Source.IMPORT, **kwargs)


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_imports_every_row_in_canonical_units(patient):
    report = _import(_csv(
        f"MRN001,{_ago(3)},1.2,,,,10^9/L,A1",
        f"MRN001,{_ago(2)},800,,,,cells/uL,A2",
        f"MRN001,{_ago(1)},,4.0,50,5,K/uL,A3",
    ))
    assert report.ok, report.problems
    assert report.created_counts == 3
    stored = {c.accession: c for c in CountResult.objects.filter(patient=patient)}
    assert stored["A1"].anc_1e9_per_l == Decimal("1.200")
    assert stored["A2"].anc_1e9_per_l == Decimal("0.800") and stored["A2"].entered_unit == "/uL"
    assert stored["A2"].ctcae_grade == 3
    assert stored["A3"].anc_1e9_per_l == Decimal("2.200") and stored["A3"].anc_computed
    assert {c.source for c in stored.values()} == {Source.IMPORT}


def test_same_file_twice_adds_nothing(patient):
    text = _csv(f"MRN001,{_ago(3)},1.2,,,,10^9/L,A1", f"MRN001,{_ago(2)},0.9,,,,10^9/L,")
    first, second = _import(text), _import(text)
    assert first.created_counts == 2
    assert second.ok and second.created == 0 and second.duplicates == 2
    assert CountResult.objects.count() == 2


def test_all_or_nothing_one_bad_row_refuses_the_whole_file_and_names_every_problem(patient):
    report = _import(all_or_nothing=True, text=_csv(
        f"MRN001,{_ago(3)},1.2,,,,10^9/L,A1",
        f"MRN001,{_ago(2)},3000,,,,10^3/uL,A2",
        f"NOPE,{_ago(2)},1.0,,,,10^9/L,A3",
        f"MRN001,{_ago(-2)},1.0,,,,10^9/L,A4",
        "MRN001,1959-01-01T10:00,1.0,,,,10^9/L,A5",
        f"MRN001,{_ago(1)},1.0,,,,furlongs,A6",
        "MRN001,yesterday,1.0,,,,10^9/L,A7",
    ))
    assert not report.ok
    assert CountResult.objects.count() == 0
    problems = {(p.where, p.field): p.reason for p in report.problems}
    assert "not plausible" in problems[("row 3", "anc")]
    assert "unknown MRN" in problems[("row 4", "mrn")]
    assert "future" in problems[("row 5", "collected_at")]
    assert "before the patient's birth" in problems[("row 6", "collected_at")]
    assert "unknown unit" in problems[("row 7", "unit")]
    assert ("row 8", "collected_at") in problems
    assert len(report.problems) == 6


def test_csv_header_problems(patient):
    report = _import("mrn,when,acn\nMRN001,x,1\n")
    reasons = " ".join(p.reason for p in report.problems)
    assert "unknown column 'acn'" in reasons and "missing column 'collected_at'" in reasons


def test_csv_zone_given_is_respected(patient):
    report = _import(_csv("MRN001,2024-05-01T08:30:00+00:00,1.2,,,,10^9/L,Z1",))
    assert report.ok
    stored = CountResult.objects.get()
    assert stored.collected_at == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)


def test_csv_naive_time_is_clinic_local(patient, settings):
    _import(_csv("MRN001,2024-07-01T08:30,1.2,,,,10^9/L,L1"))
    stored = CountResult.objects.get()
    assert timezone.localtime(stored.collected_at).hour == 8  # Europe/London in summer is UTC+1
    assert stored.collected_at.astimezone(UTC).hour == 7


def test_csv_temperature_and_gcsf_rows(patient):
    header = "mrn,collected_at,anc,unit,accession,temperature,temperature_unit,gcsf_product,gcsf_dose,gcsf_dose_unit"
    report = _import(_csv(
        f"MRN001,{_ago(2)},,,T1,101.3,F,,,",
        f"MRN001,{_ago(3)},,,G1,,,Zarxio (filgrastim-sndz),300,mcg",
        header=header,
    ))
    assert report.ok, report.problems
    assert TemperatureReading.objects.get().temperature_c == Decimal("38.50")
    dose = GcsfDose.objects.get()
    assert (dose.product, dose.dose_unit, dose.external_id) == ("filgrastim", "ug", "G1")


def test_csv_correction_and_removal_by_accession(patient):
    _import(_csv(f"MRN001,{_ago(3)},1.2,,,,10^9/L,A1", f"MRN001,{_ago(2)},0.4,,,,10^9/L,A2"))
    header = "mrn,collected_at,anc,unit,accession,status"
    report = _import(_csv(f"MRN001,{_ago(3)},0.3,10^9/L,A1,corrected", f"MRN001,{_ago(2)},,,A2,entered-in-error",
                          header=header))
    assert report.ok, report.problems
    assert (report.corrected, report.removed) == (1, 1)
    stored = CountResult.objects.get()
    assert stored.anc_1e9_per_l == Decimal("0.300") and stored.ctcae_grade == 4
    assert stored.history.count() == 2  # the original value is kept in the history


def test_accession_is_one_result_across_sources(patient, other_patient):
    CountResult.objects.create(patient=patient, collected_at=NOW - timedelta(days=1),
                               anc_1e9_per_l=Decimal("1.1"), entered_value="1.1", entered_unit="10^9/L",
                               source=Source.API, accession="LAB-77")
    same = _import(_csv(f"MRN001,{_ago(1)},1.1,,,,10^9/L,LAB-77"))
    assert same.ok and same.duplicates == 1 and CountResult.objects.count() == 1
    clash = _import(_csv(f"MRN999,{_ago(1)},1.1,,,,10^9/L,LAB-77"))
    assert not clash.ok and "not found in your teams" in clash.problems[0].reason


def test_file_import_enqueues_one_recompute_per_affected_cycle(patient, regimens, django_capture_on_commit_callbacks):
    from tests.conftest import start_on_regimen

    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=10)
    version = Cycle.objects.get(pk=cycle.pk).input_version
    rows = [f"MRN001,{_ago(9 - i * 0.5)},{1 + i / 10},,,,10^9/L,R{i}" for i in range(12)]
    with django_capture_on_commit_callbacks() as callbacks:
        report = _import(_csv(*rows))
    assert report.created_counts == 12
    assert Cycle.objects.get(pk=cycle.pk).input_version == version + 1  # bumped once, not 12 times
    assert len(callbacks) == 1


# --- HL7 v2 ----------------------------------------------------------------------------------------

def _hl7_time(days: float) -> str:
    return timezone.localtime(NOW - timedelta(days=days)).strftime("%Y%m%d%H%M")


def _oru(obx: list[str], *, mrn: str = "MRN001", filler: str = "F100", control: str = "MSG1", days: float = 2) -> str:
    return "\r".join([
        f"MSH|^~\\&|LAB|HOSP|NW|ONC|{_hl7_time(0)}||ORU^R01|{control}|P|2.5",
        f"PID|1||X9^^^HOSP^PI~{mrn}^^^HOSP^MR||Lovelace^Ada||19600304|F",
        f"OBR|1|P100|{filler}|58410-2^CBC panel^LN|||{_hl7_time(days)}",
        *obx,
    ])


def test_hl7_oru_imports_a_cbc_with_k_per_ul(patient):
    message = _oru([
        "OBX|1|NM|6690-2^WBC^LN||3.1|10*3/uL|4.0-11.0|L|||F",
        "OBX|2|NM|751-8^Neutrophils^LN||0.45|K/uL|1.8-7.7|LL|||F",
        "OBX|3|NM|718-7^Hemoglobin^LN||11.2|g/dL|||||F",
        "OBX|4|NM|8310-5^Body temperature^LN||38.4|Cel|||||F",
    ])
    report = _import(message.replace("\r", "\n"), name="lab.hl7")
    assert report.ok, report.problems
    count = CountResult.objects.get()
    assert (count.anc_1e9_per_l, count.wbc_1e9_per_l, count.accession) == (Decimal("0.450"), Decimal("3.100"), "F100")
    assert count.ctcae_grade == 4
    assert TemperatureReading.objects.get().temperature_c == Decimal("38.40")
    assert report.ignored == 1  # haemoglobin


def test_hl7_preliminary_is_held_back_and_correction_replaces(patient):
    preliminary = _oru(["OBX|1|NM|751-8^Neutrophils^LN||0.9|10*3/uL|||||P"])
    report = _import(preliminary, name="p.hl7")
    assert report.ok and report.created == 0 and report.held_back
    assert not CountResult.objects.exists()
    _import(_oru(["OBX|1|NM|751-8^Neutrophils^LN||0.9|10*3/uL|||||F"], control="M2"), name="f.hl7")
    corrected = _import(_oru(["OBX|1|NM|751-8^Neutrophils^LN||0.7|10*3/uL|||||C"], control="M3"), name="c.hl7")
    assert corrected.corrected == 1
    assert CountResult.objects.get().anc_1e9_per_l == Decimal("0.700")


def test_hl7_refuses_wrong_magnitude_and_garbage(patient):
    wrong = _import(_oru(["OBX|1|NM|751-8^Neutrophils^LN||3000|10*3/uL|||||F"]), name="w.hl7")
    assert not wrong.ok and "cells/uL" in wrong.problems[0].reason
    garbage = _import("MSH|this is not\nreally|HL7", name="g.hl7")
    assert not garbage.ok
    assert not CountResult.objects.exists()


def test_hl7_batch_all_or_nothing_with_one_bad_message_imports_nothing(patient):
    good = _oru(["OBX|1|NM|751-8^Neutrophils^LN||1.9|10*3/uL|||||F"], filler="F1", control="A")
    bad = _oru(["OBX|1|NM|751-8^Neutrophils^LN||0,1|10*3/uL|||||F"], filler="F2", control="B")
    report = _import(good + "\r" + bad, name="batch.hl7", all_or_nothing=True)
    assert report.refused and report.problems[0].where.startswith("message 2")
    assert not CountResult.objects.exists()


def test_hl7_batch_stores_the_good_message_and_keeps_the_bad_one(patient):
    from monitoring.models import ImportException

    good = _oru(["OBX|1|NM|751-8^Neutrophils^LN||1.9|10*3/uL|||||F"], filler="F1", control="A")
    bad = _oru(["OBX|1|NM|751-8^Neutrophils^LN||0,1|10*3/uL|||||F"], filler="F2", control="B")
    report = _import(good + "\r" + bad, name="batch.hl7")
    assert not report.refused and report.stored == 1 and len(report.kept) == 1
    assert CountResult.objects.get().accession == "F1"
    kept = ImportException.objects.get()
    assert kept.location == "message 2" and kept.raw.startswith("MSH|") and "F2" in kept.raw
    assert kept.patient == patient and kept.values["anc"] == "0,1" and "not a number" in kept.problems_text


def test_hl7_report_says_what_became_of_each_message(patient):
    """ImportReport.outcome(unit): stored, duplicate (also of an earlier message), kept, held back or nothing read."""
    final = "OBX|1|NM|751-8^Neutrophils^LN||1.9|10*3/uL|||||F"
    messages = [
        _oru([final], filler="F1", control="A"),
        _oru([final], filler="F1", control="B"),  # A again
        _oru(["OBX|1|NM|751-8^Neutrophils^LN||0,1|10*3/uL|||||F"], filler="F2", control="C"),
        _oru(["OBX|1|NM|751-8^Neutrophils^LN||1.1|10*3/uL|||||P"], filler="F3", control="D"),
        _oru(["OBX|1|NM|718-7^Hemoglobin^LN||11.2|g/dL|||||F"], filler="F4", control="E"),
    ]
    report = _import("\r".join(messages), name="five.hl7")
    outcomes = [report.outcome(f"message {n}") for n in range(1, 6)]
    assert [(o.stored, o.duplicates, len(o.problems), len(o.kept), len(o.held_back), o.read_nothing)
            for o in outcomes] == [(True, 0, 0, 0, 0, False), (False, 1, 0, 0, 0, False), (False, 0, 1, 1, 0, False),
                                   (False, 0, 0, 0, 1, False), (False, 0, 0, 0, 0, True)]
    assert "not a number" in outcomes[2].problems[0].reason and outcomes[2].kept[0]["exception_id"]
    assert report.duplicates == 1 and report.stored == 1


# --- FHIR R4 ---------------------------------------------------------------------------------------

def _fhir_time(days: float) -> str:
    return timezone.localtime(timezone.now() - timedelta(days=days)).isoformat(timespec="seconds")


def _observation(obs_id: str, code: str, value, unit: str, *, status: str = "final", days: float = 2,
                 subject: dict | None = None) -> dict:
    return {
        "resourceType": "Observation", "id": obs_id, "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": subject or {"reference": "Patient/p1"},
        "effectiveDateTime": _fhir_time(days),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def _bundle(*resources: dict, kind: str = "collection") -> str:
    patient = {"resourceType": "Patient", "id": "p1",
               "identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": "MRN001"}]}
    return json.dumps({"resourceType": "Bundle", "type": kind,
                       "entry": [{"resource": r} for r in (patient, *resources)]})


def test_fhir_bundle_imports_counts_temperature_and_gcsf(patient):
    text = _bundle(
        _observation("wbc-1", "26464-8", 2.0, "10*9/L"),
        _observation("neut-1", "26511-6", 40, "%"),
        _observation("band-1", "26508-2", 5, "%"),
        _observation("anc-2", "751-8", 450, "/uL", days=1),
        _observation("temp-1", "8310-5", 101.0, "[degF]", days=1),
        {"resourceType": "MedicationAdministration", "id": "ma-1", "status": "completed",
         "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L03AA13"}]},
         "subject": {"identifier": {"value": "MRN001"}}, "effectiveDateTime": _fhir_time(3),
         "dosage": {"dose": {"value": 6, "unit": "mg"}}},
        {"resourceType": "MedicationAdministration", "id": "ma-2", "status": "completed",
         "medicationCodeableConcept": {"text": "ondansetron"}, "subject": {"reference": "Patient/p1"},
         "effectiveDateTime": _fhir_time(3)},
    )
    report = _import(text, name="bundle.json")
    assert report.ok, report.problems
    counts = {c.accession: c for c in CountResult.objects.all()}
    assert counts["Observation/wbc-1"].anc_1e9_per_l == Decimal("0.900")  # 2.0 x 45 %
    assert counts["Observation/anc-2"].anc_1e9_per_l == Decimal("0.450")
    assert TemperatureReading.objects.get().temperature_c == Decimal("38.33")
    assert GcsfDose.objects.get().product == "pegfilgrastim"
    assert report.ignored == 1
    again = _import(text, name="bundle.json")
    assert again.created == 0 and again.duplicates == 4


def test_a_fhir_message_from_the_laboratory_is_read_and_its_grade_4_alerted(patient, cycle):
    # FHIR messaging: MessageHeader first, then the report and its results (a Bundle of type message).
    header = {"resourceType": "MessageHeader", "id": "h1", "eventCoding": {"system": "urn:lab", "code": "result"},
              "source": {"endpoint": "urn:lab"}, "focus": [{"reference": "DiagnosticReport/r1"}]}
    report = {"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
              "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2"}]},
              "subject": {"reference": "Patient/p1"}, "result": [{"reference": "Observation/anc-1"}]}
    text = json.loads(_bundle(report, _observation("anc-1", "751-8", 0.3, "10*9/L", days=0.1), kind="message"))
    text["entry"].insert(0, {"resource": header})
    imported = _import(json.dumps(text), name="message.json")
    assert imported.ok, imported.problems
    assert CountResult.objects.get().anc_1e9_per_l == Decimal("0.300")
    assert imported.ignored == 2  # the MessageHeader and the DiagnosticReport
    assert Alert.objects.filter(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED).exists()


def test_fhir_correction_replaces_and_entered_in_error_removes(patient):
    _import(_bundle(_observation("anc-1", "751-8", 1.1, "10*3/uL"), _observation("anc-2", "751-8", 0.8, "10*3/uL",
                                                                                 days=1)), name="a.json")
    text = _bundle(_observation("anc-1", "751-8", 0.6, "10*3/uL", status="corrected"),
                   _observation("anc-2", "751-8", 0.8, "10*3/uL", days=1, status="entered-in-error"))
    report = _import(text, name="b.json")
    assert (report.corrected, report.removed, report.created) == (1, 1, 0)
    assert CountResult.objects.get().anc_1e9_per_l == Decimal("0.600")
    assert _import(text, name="b.json").created == 0
    assert CountResult.objects.count() == 1


def test_fhir_single_resource_and_preliminary_held_back(patient):
    single = _observation("anc-9", "751-8", 2.5, "10*3/uL", subject={"identifier": {"value": "MRN001"}})
    assert _import(json.dumps(single), name="one.json").created_counts == 1
    held = _observation("anc-10", "751-8", 2.5, "10*3/uL", status="preliminary",
                        subject={"identifier": {"value": "MRN001"}})
    report = _import(json.dumps(held), name="p.json")
    assert report.ok and report.held_back and report.created == 0


def test_fhir_invalid_resource_refuses_the_bundle(patient):
    bad = _observation("anc-3", "751-8", 1.0, "10*3/uL")
    bad["effectiveDateTime"] = "2024-13-45T10:00:00Z"
    text = _bundle(_observation("anc-4", "751-8", 1.0, "10*3/uL"), bad, {"resourceType": "Nonsense"})
    report = _import(text, name="bad.json", all_or_nothing=True)
    assert report.refused
    wheres = {p.where for p in report.problems}
    assert "entry 3" in wheres and "entry 4" in wheres
    assert not CountResult.objects.exists()


def test_fhir_magnitude_error_is_named(patient):
    report = _import(_bundle(_observation("anc-5", "751-8", 3000, "10*3/uL")), name="m.json")
    assert not report.ok
    assert report.problems[0].field == "valueQuantity (751-8)" and "cells/uL" in report.problems[0].reason


# --- The command -----------------------------------------------------------------------------------

def test_import_results_command(patient, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text(_csv(f"MRN001,{_ago(2)},1.2,,,,10^9/L,C1"))
    bad = tmp_path / "bad.csv"
    bad.write_text(_csv(f"MRN001,{_ago(2)},1.2,,,,parsecs,C2"))
    call_command("import_results", str(good))
    assert "1 created" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("import_results", str(good), str(bad))
    captured = capsys.readouterr()
    assert "0 created" in captured.out and "1 duplicates" in captured.out
    assert f"{bad}: row 2: unit: unknown unit 'parsecs'" in captured.err
    assert list(CountResult.objects.values_list("accession", flat=True)) == ["C1"]


# --- The upload page -------------------------------------------------------------------------------

def test_upload_page_imports_and_reports(nurse_client, patient, other_patient):
    from django.core.files.uploadedfile import SimpleUploadedFile

    page = nurse_client.get("/import/")
    assert page.status_code == 200 and b"Import results" in page.content
    upload = SimpleUploadedFile("r.csv", _csv(f"MRN001,{_ago(2)},1.2,,,,10^9/L,U1").encode())
    response = nurse_client.post("/import/", {"file": upload})
    assert response.status_code == 200 and b"Imported r.csv" in response.content
    assert CountResult.objects.get().entered_by.username == "nurse"
    # Another team's patient reads as unknown: the page does not reveal who exists elsewhere.
    other = SimpleUploadedFile("o.csv", _csv(f"MRN999,{_ago(2)},1.2,,,,10^9/L,U2").encode())
    assert re.search(rb'<input[^>]*name="all_or_nothing"[^>]*checked', page.content)  # on by default
    refused = nurse_client.post("/import/", {"file": other, "all_or_nothing": "on"})
    assert refused.status_code == 400 and b"unknown MRN" in refused.content
    assert CountResult.objects.count() == 1
    # Unticked: the good rows are stored and the bad one is kept for review, not refused.
    from monitoring.models import ImportException

    mixed = SimpleUploadedFile("m.csv", _csv(f"MRN001,{_ago(1)},0.9,,,,10^9/L,U3",
                                             f"MRN999,{_ago(2)},1.2,,,,10^9/L,U2").encode())
    response = nurse_client.post("/import/", {"file": mixed})
    assert response.status_code == 200 and b"1 stored, 1 kept for review" in response.content
    kept = ImportException.objects.get()
    assert kept.patient is None and kept.mrn == "MRN999" and kept.team == patient.team
    assert CountResult.objects.count() == 2


@pytest.mark.parametrize("name, start", [("counts.xlsx", b"PK\x03\x04\x14\x00\x06\x00"),
                                         ("counts.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00")])
def test_an_excel_workbook_is_refused_saying_to_save_it_as_csv(nurse_client, patient, name, start):
    # The README says results come "as CSV or Excel files"; a workbook read "not UTF-8 text" or
    # "contains NUL bytes", and the page asked to "Fix these 1 problem".
    from django.core.files.uploadedfile import SimpleUploadedFile

    refused = nurse_client.post("/import/", {"file": SimpleUploadedFile(name, start + bytes(200) + b"\xff\xfe")})
    content = refused.content.decode()
    assert refused.status_code == 400 and "an Excel workbook, not a CSV file: save it as CSV UTF-8" in content
    assert "Fix this problem and import the file again." in content
    assert not CountResult.objects.exists()


def test_upload_page_needs_login(client):
    assert client.get("/import/").status_code == 302




@pytest.mark.postgres  # COPY is PostgreSQL's
def test_large_file_goes_through_copy_with_history(team, django_assert_max_num_queries):
    from tests.conftest import make_patient

    for n in range(3):
        make_patient(team, mrn=f"BULK{n}")
    # Each patient's counts fall from 3.9 to 0.0 and rise again in steps of 0.1: plausible for the
    # delta check (no jump above 10 times between a patient's successive counts).
    def anc(n: int) -> float:
        step = (n // 3) % 80
        return (step if step < 40 else 79 - step) / 10

    rows = [f"BULK{n % 3},{_ago(30 - n / 50)},{anc(n)},,,,10^9/L,BK{n}" for n in range(1200)]
    # A fixed number of queries, not one per row. PostgreSQL takes the rows through COPY; SQLite
    # through bulk_create, in batches bounded by its limit on variables per statement.
    from django.db import connection

    with django_assert_max_num_queries(40 if connection.vendor == "postgresql" else 60):
        report = _import(_csv(*rows))
    assert report.ok and report.created_counts == 1200
    stored = CountResult.objects.filter(accession="BK45").get()
    assert stored.anc_1e9_per_l == Decimal("1.500") and stored.ctcae_grade == 1 and stored.entered_at is not None
    assert CountResult.history.filter(history_type="+").count() == 1200
    assert CountResult.objects.filter(ctcae_grade=4).count() == 150  # 0.0-0.4: 10 of every 80 per patient
    assert _import(_csv(*rows)).duplicates == 1200

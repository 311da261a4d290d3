"""A lab feed that loses nothing: record-by-record acceptance, the exceptions queue (fix, re-try,
dismiss, who sees what), censored values, idempotence by database constraints, hostile numbers."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from monitoring.labfeed import importers
from monitoring.models import Alert, ApiToken, CountResult, GcsfDose, ImportException
from monitoring.models.results import Source
from tests.conftest import make_patient, make_user

pytestmark = pytest.mark.django_db
HEADER = "mrn,collected_at,anc,unit,accession"


# One clock for the module (times to the minute): a record built twice must say the same, even
# across a minute boundary (a minute apart it is another collection time: a conflict, not a duplicate).
NOW = timezone.now()


def _at(hours: float) -> str:
    return timezone.localtime(NOW - timedelta(hours=hours)).isoformat(timespec="minutes")


def _csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# --- Record by record, and the command ----------------------------------------------------------

def test_csv_with_3_good_and_2_bad_rows_stores_3_and_keeps_2_then_a_fix_stores_it_and_alerts(
        cycle, patient, nurse, tmp_path, capsys, eager):
    path = tmp_path / "lab.csv"
    path.write_text(_csv(
        f"MRN001,{_at(30)},1.2,10^9/L,G1",
        f"MRN001,{_at(20)},0,3,10^9/L,B1",  # a decimal comma split the row: 6 fields
        f"MRN001,{_at(10)},1.1,10^9/L,G2",
        f"MRN001,{_at(1)},abc,10^9/L,B2",
        f"MRN001,{_at(2)},1.0,10^9/L,G3",
    ))
    with pytest.raises(CommandError, match="2 record"):
        call_command("import_results", str(path))
    output = capsys.readouterr()
    assert "3 stored, 2 kept for review" in output.err + output.out
    assert sorted(CountResult.objects.values_list("accession", flat=True)) == ["G1", "G2", "G3"]
    kept = list(ImportException.objects.order_by("location"))
    assert [k.location for k in kept] == ["row 3", "row 5"]
    assert kept[0].raw.splitlines() == [HEADER, kept[0].raw.splitlines()[1]]  # the row as received, with its header
    assert kept[0].raw.endswith(",0,3,10^9/L,B1") and "6 fields" in kept[0].problems_text
    assert "abc" in kept[1].raw and "'abc' is not a number" in kept[1].problems_text
    assert all(k.patient == patient and k.team == patient.team and k.is_open for k in kept)
    assert not Alert.objects.filter(kind=Alert.Kind.GRADE4_OBSERVED).exists()

    client = Client()
    client.force_login(nurse)
    page = client.get(f"/import/exceptions/{kept[1].pk}/")
    assert page.status_code == 200 and b'value="abc"' in page.content  # the record's values, in a form
    fixed = eager(client.post, f"/import/exceptions/{kept[1].pk}/fix",
                  {**kept[1].values, "anc": "0.3", "status": ""})
    assert fixed.status_code == 302
    stored = CountResult.objects.get(accession="B2")
    assert stored.anc_1e9_per_l == Decimal("0.300") and stored.entered_by == nurse and stored.source == Source.IMPORT
    kept[1].refresh_from_db()
    assert kept[1].status == ImportException.Status.FIXED and kept[1].resolved_by == nurse
    assert kept[1].history.count() == 2  # created, then fixed: audited
    # The normal write path re-ran the rules: the grade-4 count raised its alert.
    assert Alert.objects.filter(cycle=cycle, kind=Alert.Kind.GRADE4_OBSERVED, resolved_at__isnull=True).exists()


def test_a_fix_with_a_bad_value_stores_nothing_and_says_why(patient, nurse_client):
    importers.import_file("f.csv", _csv(f"MRN001,{_at(3)},abc,10^9/L,X1"), source=Source.IMPORT)
    kept = ImportException.objects.get()
    response = nurse_client.post(f"/import/exceptions/{kept.pk}/fix", {**kept.values, "anc": "1e999999"})
    assert response.status_code == 400 and b"not a number" in response.content
    assert not CountResult.objects.exists()
    kept.refresh_from_db()
    assert kept.is_open


def test_dismiss_needs_a_reason_and_keeps_who_and_why(patient, nurse, nurse_client):
    importers.import_file("f.csv", _csv(f"MRN001,{_at(3)},abc,10^9/L,X1"), source=Source.IMPORT)
    kept = ImportException.objects.get()
    assert nurse_client.post(f"/import/exceptions/{kept.pk}/dismiss", {"reason": "  "}).status_code == 400
    kept.refresh_from_db()
    assert kept.is_open
    nurse_client.post(f"/import/exceptions/{kept.pk}/dismiss", {"reason": "test message from the lab"})
    kept.refresh_from_db()
    assert kept.status == ImportException.Status.DISMISSED and kept.resolved_by == nurse
    assert kept.resolution_note == "test message from the lab"
    assert kept.history.first().history_user == nurse


def test_unknown_mrn_is_kept_and_re_tried_after_registering(team, nurse_client, nurse):
    report = importers.import_file("f.csv", _csv(f"NEW-7,{_at(3)},0.8,10^9/L,R1"), source=Source.IMPORT,
                                   scope=importers.Scope(home_team_id=team.pk))
    assert report.stored == 0 and len(report.kept) == 1
    kept = ImportException.objects.get()
    assert kept.kind == ImportException.Kind.UNKNOWN_MRN and kept.patient is None and kept.mrn == "NEW-7"
    still = nurse_client.post(f"/import/exceptions/{kept.pk}/retry")
    assert still.status_code == 302 and not CountResult.objects.exists()
    patient = make_patient(team, mrn="NEW-7")
    assert f"/import/exceptions/{kept.pk}/" in nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    nurse_client.post(f"/import/exceptions/{kept.pk}/retry")
    assert CountResult.objects.get().patient == patient
    kept.refresh_from_db()
    assert kept.status == ImportException.Status.FIXED


def test_the_same_bad_record_sent_again_is_one_open_exception(patient):
    text = _csv(f"MRN001,{_at(3)},abc,10^9/L,X1")
    first = importers.import_file("f.csv", text, source=Source.IMPORT)
    second = importers.import_file("f.csv", text, source=Source.API)
    assert ImportException.objects.count() == 1
    assert first.kept[0]["exception_id"] == second.kept[0]["exception_id"]


# --- Who sees what --------------------------------------------------------------------------------

def test_exceptions_are_team_scoped_and_unknown_mrns_go_to_admins(patient, other_patient, nurse, other_nurse, team):
    importers.import_file("a.csv", _csv(f"MRN001,{_at(3)},abc,10^9/L,A"), source=Source.IMPORT)
    importers.import_file("b.csv", _csv(f"MRN999,{_at(3)},abc,10^9/L,B"), source=Source.IMPORT)
    importers.import_file("c.csv", _csv(f"GHOST,{_at(3)},1.0,10^9/L,C"), source=Source.MLLP)
    mine, theirs, ghost = (ImportException.objects.get(file_name=f"{n}.csv") for n in "abc")
    admin = make_user("admin", [team], role="admin")
    for user, visible in ((nurse, {mine}), (other_nurse, {theirs}), (admin, {mine, theirs, ghost})):
        client = Client()
        client.force_login(user)
        listed = client.get("/import/exceptions/").content.decode()
        for exception in (mine, theirs, ghost):
            assert (f"/import/exceptions/{exception.pk}/" in listed) == (exception in visible), (user, exception)
            status = client.get(f"/import/exceptions/{exception.pk}/").status_code
            assert status == (200 if exception in visible else 404)
    other = Client()
    other.force_login(other_nurse)
    assert other.post(f"/import/exceptions/{mine.pk}/dismiss", {"reason": "x"}).status_code == 404
    mine.refresh_from_db()
    assert mine.is_open
    # Once the MRN is registered in her team, the feed's record is hers to re-try.
    ghost_patient = make_patient(other_nurse.teams.get(), mrn="GHOST")
    assert other.get(f"/import/exceptions/{ghost.pk}/").status_code == 200
    other.post(f"/import/exceptions/{ghost.pk}/retry")
    assert CountResult.objects.get(patient=ghost_patient).source == Source.MLLP


def test_patient_page_lists_open_exceptions_and_ward_counts_them(patient, nurse_client):
    importers.import_file("a.csv", _csv(f"MRN001,{_at(3)},abc,10^9/L,A", f"MRN001,{_at(2)},x,10^9/L,B"),
                          source=Source.IMPORT)
    page = nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'id="patient-exceptions"' in page and page.count("/import/exceptions/") >= 2
    ward = nurse_client.get("/").content.decode()
    assert "2 lab records kept for review" in ward


# --- Censored values (issue 11 S4, S5) ------------------------------------------------------------

@pytest.mark.parametrize("text, qualifier, bound, grade", [
    ("<0.1", "<", "0.100", 4), ("< 0.05", "<", "0.050", 4), (">50", ">", "50.000", 0), ("<=0.5", "<", "0.500", 3),
])
def test_censored_values_are_results_stored_with_their_qualifier(patient, text, qualifier, bound, grade):
    report = importers.import_file("c.csv", _csv(f'MRN001,{_at(3)},"{text}",10^9/L,'), source=Source.IMPORT)
    assert report.ok and report.stored == 1
    count = CountResult.objects.get()
    assert (count.qualifier, count.anc_1e9_per_l, count.ctcae_grade) == (qualifier, Decimal(bound), grade)
    assert count.anc_display == f"{qualifier}{Decimal(bound).normalize()}"


def test_s4_censored_count_by_the_command_is_stored_grade_4_and_shown_as_below(cycle, patient, nurse_client, tmp_path,
                                                                                 eager):
    path = tmp_path / "s4.csv"
    path.write_text(_csv(f"MRN001,{_at(1)},<0.1,10^9/L,S4"))
    eager(call_command, "import_results", str(path))
    count = CountResult.objects.get()
    assert (count.qualifier, count.anc_1e9_per_l, count.ctcae_grade) == ("<", Decimal("0.100"), 4)
    assert "&lt;0.1" in nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    # Graded from its bound: the grade-4 rule raises an open critical alert (at save time; the same
    # scenario with the broker dead is in test_safety_net.py).
    alert = Alert.objects.get(cycle=cycle, kind=Alert.Kind.GRADE4_OBSERVED)
    assert alert.severity == Alert.Severity.CRITICAL and alert.acknowledged_at is None and alert.resolved_at is None


def test_s5_an_unreadable_anc_does_not_keep_out_another_patients_count(patient, team, tmp_path, capsys):
    make_patient(team, mrn="MRN002", given_name="Bea")
    path = tmp_path / "s5.csv"
    path.write_text(_csv(f"MRN001,{_at(2)},0..3,10^9/L,S5A", f"MRN002,{_at(2)},0.35,10^9/L,S5B"))
    with pytest.raises(CommandError):
        call_command("import_results", str(path))
    err = capsys.readouterr().err
    assert "row 2: anc: '0..3' is not a number" in err and "1 stored, 1 kept for review" in err
    assert list(CountResult.objects.values_list("patient__mrn", "anc_1e9_per_l")) == [("MRN002", Decimal("0.350"))]
    assert ImportException.objects.get().mrn == "MRN001"


# --- Idempotence and corrections ------------------------------------------------------------------

def test_same_accession_with_another_value_is_a_correction_candidate_never_dropped(patient, nurse_client):
    importers.import_file("a.csv", _csv(f"MRN001,{_at(3)},1.1,10^9/L,LAB-1"), source=Source.IMPORT)
    report = importers.import_file("b.csv", _csv(f"MRN001,{_at(3)},0.4,10^9/L,LAB-1"), source=Source.API)
    assert report.stored == 0 and len(report.kept) == 1
    kept = ImportException.objects.get()
    assert kept.kind == ImportException.Kind.CONFLICT and "another value" in kept.problems_text
    assert CountResult.objects.get().anc_1e9_per_l == Decimal("1.100")
    # A person decides: stored as a correction, with the earlier value kept in the history.
    nurse_client.post(f"/import/exceptions/{kept.pk}/fix", {**kept.values, "status": "corrected"})
    count = CountResult.objects.get()
    assert count.anc_1e9_per_l == Decimal("0.400")
    assert [h.anc_1e9_per_l for h in count.history.order_by("history_date")] == [Decimal("1.100"), Decimal("0.400")]


def test_same_accession_by_api_and_upload_is_stored_once(patient, team, nurse_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    _, token = ApiToken.issue("lab", [team])
    body = _csv(f"MRN001,{_at(3)},0.8,10^9/L,ONE-1")
    api = Client().post("/api/v1/results", body, content_type="text/csv", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 201
    upload = nurse_client.post("/import/", {"file": SimpleUploadedFile("u.csv", body.encode()),
                                            "all_or_nothing": "on"})
    assert upload.status_code == 200
    assert CountResult.objects.count() == 1


def test_database_refuses_a_second_row_for_the_same_accession_or_unkeyed_result(patient):
    from django.db import IntegrityError, transaction

    moment = timezone.now() - timedelta(hours=1)
    fields = dict(patient=patient, collected_at=moment, anc_1e9_per_l=Decimal("0.9"), entered_value="0.9",
                  entered_unit="10^9/L")
    CountResult.objects.create(**fields, source=Source.API, accession="K1")
    CountResult.objects.create(**fields, source=Source.API)
    for extra in ({"source": Source.IMPORT, "accession": "K1"}, {"source": Source.MLLP}):
        with pytest.raises(IntegrityError), transaction.atomic():
            CountResult.objects.create(**fields, **extra)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_identical_api_posts_store_one_row_and_all_succeed(team):
    patient = make_patient(team)
    _, token = ApiToken.issue("lab", [team])
    body = _csv(f"MRN001,{_at(2)},0.7,10^9/L,")  # no accession: the idempotency key is the result itself
    statuses, start = [], threading.Barrier(10)

    def post():
        try:
            start.wait()
            response = Client().post("/api/v1/results", body, content_type="text/csv",
                                     headers={"Authorization": f"Bearer {token}"})
            statuses.append(response.status_code)
        finally:
            connection.close()

    for _round in range(3):
        statuses.clear()
        threads = [threading.Thread(target=post) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(statuses) == 10 and set(statuses) <= {200, 201}, statuses
        assert CountResult.objects.filter(patient=patient).count() == 1


# --- One numeric reader, for files and forms -----------------------------------------------------

@pytest.mark.parametrize("value, reason", [
    ("1e999999", "is not a number"), ("1_0", "is not a number"), ("١٠", "is not a number"),
    ("NaN", "is not a number"), ("0.0000000000001", "more digits"),
])
def test_hostile_numbers_are_clear_errors_everywhere_never_a_500(patient, nurse_client, team, value, reason):
    _, token = ApiToken.issue("lab", [team])
    body = _csv(f"MRN001,{_at(2)},{value},10^9/L,H1")
    api = Client().post("/api/v1/results", body, content_type="text/csv", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 202 and reason in api.json()["problems"][0]["reason"]
    temperature = importers.import_file("t.csv", _csv(f"MRN001,{_at(2)},{value},C",
                                                       header="mrn,collected_at,temperature,temperature_unit"),
                                        source=Source.IMPORT)
    assert reason in temperature.problems[0].reason
    hl7 = importers.import_file("h.hl7", "MSH|^~\\&|LAB|H|NW|H|20261120||ORU^R01|C9|P|2.5.1\rPID|1||MRN001\r"
                                f"OBR|1||H2||||{timezone.now():%Y%m%d%H%M}\rOBX|1|NM|751-8^ANC^LN||{value}|10*3/uL|||||F",
                                source=Source.MLLP)
    assert reason in hl7.problems[0].reason
    form = nurse_client.post(f"/patients/{patient.pk}/counts/new/",
                             {"collected_at": _at(2)[:16], "unit": "10^9/L", "anc": value})
    assert form.status_code == 200 and not CountResult.objects.exists()


def test_gcsf_dose_limits_are_the_forms(patient):
    header = "mrn,collected_at,gcsf_product,gcsf_dose,gcsf_dose_unit"
    report = importers.import_file("g.csv", _csv(f"MRN001,{_at(2)},pegfilgrastim,99999,mg",
                                                 f"MRN001,{_at(1)},pegfilgrastim,6,mg", header=header),
                                   source=Source.IMPORT)
    assert report.stored == 1 and "not a plausible G-CSF dose" in report.problems[0].reason
    assert GcsfDose.objects.get().dose == Decimal("6")


@pytest.mark.parametrize("local, what", [("2026-03-29T01:30", "does not exist"), ("2026-10-25T01:30", "twice")])
def test_local_times_that_do_not_exist_or_happen_twice_are_refused(patient, settings, local, what):
    settings.TIME_ZONE = "Europe/London"
    report = importers.import_file("d.csv", _csv(f"MRN001,{local},1.0,10^9/L,D1"), source=Source.IMPORT)
    assert what in report.problems[0].reason and "UTC offset" in report.problems[0].reason
    assert not CountResult.objects.exists()
    with_offset = importers.import_file("d.csv", _csv(f"MRN001,{local}+01:00,1.0,10^9/L,D1"), source=Source.IMPORT)
    assert with_offset.stored == 1


def test_fhir_comparator_and_hl7_structured_numeric_are_censored_values(patient):
    import json

    observation = {
        "resourceType": "Observation", "id": "cens-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
        "subject": {"identifier": {"value": "MRN001"}},
        "effectiveDateTime": timezone.localtime(timezone.now() - timedelta(hours=5)).isoformat(timespec="seconds"),
        "valueQuantity": {"value": 0.1, "comparator": "<", "system": "http://unitsofmeasure.org", "code": "10*3/uL"},
    }
    assert importers.import_file("c.json", json.dumps(observation), source=Source.API).stored == 1
    hl7 = ("MSH|^~\\&|LAB|H|NW|H|20261120||ORU^R01|SN1|P|2.5.1\rPID|1||MRN001\r"
           f"OBR|1||SN-1||||{timezone.now() - timedelta(hours=4):%Y%m%d%H%M%z}\r"
           "OBX|1|SN|751-8^ANC^LN||<^0.05|10*3/uL|||||F")
    assert importers.import_file("c.hl7", hl7, source=Source.MLLP).stored == 1
    stored = {c.accession: (c.qualifier, c.anc_1e9_per_l, c.ctcae_grade) for c in CountResult.objects.all()}
    assert stored == {"Observation/cens-1": ("<", Decimal("0.100"), 4), "SN-1": ("<", Decimal("0.050"), 4)}


def test_a_censored_percentage_is_not_a_result(patient):
    report = importers.import_file("p.csv", _csv(f'MRN001,{_at(2)},4.0,"<5",10^9/L',
                                                 header="mrn,collected_at,wbc,neutrophil_pct,unit"),
                                   source=Source.IMPORT)
    assert report.stored == 0 and "is not a number" in report.problems[0].reason  # CSV reads % plainly


# --- Delta check (issue 11): a likely unit mistake is kept for a person to confirm -------------------

def test_a_count_80_times_the_previous_one_is_held_for_confirmation_then_stored_as_fixed(patient, nurse_client):
    importers.import_file("a.csv", _csv(f"MRN001,{_at(20)},0.8,10^9/L,D-1"), source=Source.IMPORT)
    report = importers.import_file("b.csv", _csv(f"MRN001,{_at(2)},64,10^9/L,D-2", f"MRN001,{_at(1)},0.9,10^9/L,D-3"),
                                   source=Source.IMPORT)
    assert report.stored == 1 and len(report.kept) == 1  # the plausible 0.9 is not kept back by its neighbour
    kept = ImportException.objects.get()
    assert "held for confirmation" in kept.problems_text and "cells/uL" in kept.problems_text
    assert sorted(CountResult.objects.values_list("accession", flat=True)) == ["D-1", "D-3"]
    # A person who checked with the laboratory stores it as received: it is not held a second time.
    nurse_client.post(f"/import/exceptions/{kept.pk}/fix", kept.values)
    kept.refresh_from_db()
    assert kept.status == ImportException.Status.FIXED
    assert CountResult.objects.get(accession="D-2").anc_1e9_per_l == Decimal("64.000")
    # Sent again by the laboratory, the stored value is a duplicate, not a new value to confirm.
    again = importers.import_file("c.csv", _csv(f"MRN001,{_at(2)},64,10^9/L,D-2"), source=Source.IMPORT)
    assert again.ok and again.duplicates == 1 and not again.kept


@pytest.mark.parametrize("number", ["1e-999999", "1e999999", "-2E+400"])
def test_a_fhir_number_a_float_cannot_hold_is_refused_never_stored_as_0(patient, number):
    observation = ('{"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": '
                   '"http://loinc.org", "code": "751-8"}]}, "subject": {"identifier": {"value": "MRN001"}}, '
                   f'"effectiveDateTime": "{timezone.now().isoformat()}", '
                   f'"valueQuantity": {{"value": {number}, "unit": "10*3/uL"}}}}')
    report = importers.import_file("o.json", observation, source=Source.API, fmt="fhir")
    assert not report.ok and "out of range" in report.problems[0].reason
    assert not CountResult.objects.exists()

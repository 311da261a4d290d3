"""No existence oracles (issue 25 item 5): another team's record answers exactly as a missing one.

Status and body are compared whole; timing is compared through the database work each answer
costs (the same statements, ids aside), which is what made the 2.5 ms difference, without
asserting on wall-clock time.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from monitoring import clinical, records
from monitoring.models import AccessLog, ApiToken, CountResult, ImportException, Patient
from tests.conftest import start_on_regimen
from tests.story import post_count

pytestmark = pytest.mark.django_db
MISSING_ID = 987_654


def _shape(sql: str) -> str:
    """Return a statement with its literal values taken out (ids differ, and the refusal's patient id may
    be NULL: the same insert either way; the statements themselves must not differ)."""
    return re.sub(r"'[^']*'|\b\d+\b|\bNULL\b|\"s\d+_x\d+\"", "?", sql)


def _page(response) -> str:
    """Return the body with the per-response secrets (CSRF token, CSP nonce) taken out."""
    return re.sub(r'="[A-Za-z0-9+/=_-]{20,}"', '=""', response.content.decode())


def _answer(client, method: str, url: str, data=None, **kwargs):
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(url, data or {}, **kwargs)
    return response, [_shape(q["sql"]) for q in queries.captured_queries]


def _same_answer(client, method: str, url_of, other_id: int, data=None, **kwargs) -> None:
    theirs, their_queries = _answer(client, method, url_of(other_id), data, **kwargs)
    missing, missing_queries = _answer(client, method, url_of(MISSING_ID), data, **kwargs)
    assert theirs.status_code == missing.status_code == 404
    assert _page(theirs) == _page(missing)
    assert their_queries == missing_queries


@pytest.fixture
def their_count(other_patient):
    return records.record_count(other_patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=3), unit="10^9/L", anc=Decimal("2.0"), accession="ACC-7"))


@pytest.fixture
def their_cycle(other_patient, regimens):
    return start_on_regimen(other_patient, regimens["DOCETAXEL-75-Q3W"], days_ago=3, give=False)


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_teams_count_id_answers_as_a_missing_one(nurse_client, their_count, method):
    _same_answer(nurse_client, method, lambda pk: reverse("count_edit", args=[pk]), their_count.pk)


@pytest.mark.parametrize("view", ["cycle_give", "cycle_delay"])
def test_another_teams_cycle_id_answers_as_a_missing_one(client, oncologist, their_cycle, view):
    client.force_login(oncologist)
    _same_answer(client, "get", lambda pk: reverse(view, args=[pk]), their_cycle.pk)


@pytest.mark.parametrize("view", ["patient", "patient_edit", "count_new", "patient_history"])
def test_another_teams_patient_id_answers_as_a_missing_one(nurse_client, other_patient, view):
    _same_answer(nurse_client, "get", lambda pk: reverse(view, args=[pk]), other_patient.pk)


def test_another_teams_triage_call_id_answers_as_a_missing_one(nurse_client, other_patient, other_nurse):
    from monitoring.triage import calls

    theirs = calls.record_call(other_patient, calls.CallInput(grades={}), user=other_nurse)
    _same_answer(nurse_client, "post", lambda pk: reverse("triage_follow_up_done", args=[pk]), theirs.pk)


def test_refusals_are_still_in_the_access_log_with_the_patient_asked_for(nurse_client, their_count, other_patient):
    nurse_client.get(reverse("count_edit", args=[their_count.pk]))
    nurse_client.get(reverse("count_edit", args=[MISSING_ID]))
    refusals = AccessLog.objects.filter(action=AccessLog.Action.REFUSED).order_by("pk")
    logged = [(r.requested_id, r.patient_id) for r in refusals]
    assert logged == [(their_count.pk, other_patient.pk), (MISSING_ID, None)]


def test_a_count_with_another_teams_accession_is_answered_as_one_with_an_unused_accession(
        nurse_client, patient, their_count):
    when = timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    with CaptureQueriesContext(connection) as theirs:
        used = post_count(nurse_client, patient, anc="2.1", accession="ACC-7", collected_at=when)
    CountResult.objects.filter(patient=patient).delete()
    with CaptureQueriesContext(connection) as unused_queries:
        unused = post_count(nurse_client, patient, anc="2.1", accession="ACC-NEW", collected_at=when)
    assert used.status_code == unused.status_code == 302 and used["Location"] == unused["Location"]
    assert len(theirs.captured_queries) == len(unused_queries.captured_queries)


def test_api_answers_another_teams_mrn_as_an_unknown_one(client, patient, other_patient, team):
    token = ApiToken.issue("lab", [team])[1]
    when = timezone.localtime(timezone.now() - timedelta(hours=2)).isoformat(timespec="seconds")

    def post(mrn: str):
        body = f"mrn,collected_at,anc,unit\n{mrn},{when},1.2,10^9/L\n"
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/v1/results", body, content_type="text/csv",
                                   headers={"Authorization": f"Bearer {token}"})
        return response, len(queries.captured_queries)

    theirs, their_queries = post(other_patient.mrn)
    nobody, nobody_queries = post("NOBODY-1")
    assert theirs.status_code == nobody.status_code == 202

    def without_ids(response) -> str:
        return json.dumps(response.json(), sort_keys=True).replace(other_patient.mrn, "X").replace("NOBODY-1", "X")

    assert re.sub(r'"exception_id": \d+', "", without_ids(theirs)) == re.sub(r'"exception_id": \d+', "",
                                                                                without_ids(nobody))
    assert their_queries == nobody_queries
    # Both are kept in the token's own team, where its people can register the patient or dismiss it.
    assert set(ImportException.objects.values_list("team_id", "patient_id")) == {(team.pk, None)}


def test_the_risk_assessments_api_answers_another_teams_mrn_as_an_unknown_one(client, team, other_patient):
    token = ApiToken.issue("ehr", [team])[1]

    def get(mrn: str):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/patients/{mrn}/risk-assessments",
                                  headers={"Authorization": f"Bearer {token}"})
        return response, [_shape(q["sql"]) for q in queries.captured_queries]

    theirs, their_queries = get(other_patient.mrn)
    nobody, nobody_queries = get("NOBODY-1")
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.content.decode().replace(other_patient.mrn, "X") == nobody.content.decode().replace("NOBODY-1", "X")
    assert their_queries == nobody_queries
    # Both refusals are on the record, with the token that asked.
    refusals = AccessLog.objects.filter(action=AccessLog.Action.REFUSED).order_by("pk")
    assert [(r.patient_id, r.token.name) for r in refusals] == [(other_patient.pk, "ehr"), (None, "ehr")]


def test_api_answers_another_teams_accession_as_an_unused_one(client, patient, their_count, team):
    token = ApiToken.issue("lab", [team])[1]
    when = timezone.localtime(timezone.now() - timedelta(hours=2)).isoformat(timespec="seconds")

    def post(accession: str, minutes: int):
        body = f"mrn,collected_at,anc,unit,accession\n{patient.mrn},{when},1.{minutes},10^9/L,{accession}\n"
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/v1/results", body, content_type="text/csv",
                                   headers={"Authorization": f"Bearer {token}"})
        return response, [_shape(q["sql"]) for q in queries.captured_queries]

    theirs, their_queries = post(their_count.accession, 2)
    unused, unused_queries = post("ACC-UNUSED", 3)
    assert theirs.status_code == unused.status_code == 201
    assert theirs.json() == unused.json()
    assert their_queries == unused_queries
    assert CountResult.objects.filter(patient=patient).count() == 2


def test_the_hospital_lab_feed_still_refuses_one_accession_for_two_patients(patient, their_count):
    from monitoring.labfeed import importers
    from monitoring.models.results import Source

    when = timezone.localtime(timezone.now() - timedelta(hours=2)).isoformat(timespec="seconds")
    body = f"mrn,collected_at,anc,unit,accession\n{patient.mrn},{when},1.2,10^9/L,{their_count.accession}\n"
    report = importers.import_file("feed.csv", body.encode(), source=Source.MLLP, fmt="csv")  # no team scope
    assert not report.ok and not CountResult.objects.filter(patient=patient).exists()


# --- The new-patient form: another team's MRN reads exactly as an unused one ------------------------

def _new_patient(client, mrn: str, team):
    data = {"mrn": mrn, "given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1960-03-04", "sex": "F",
            "team": team.pk, "active": "on", "phone": "0113 496 0000", "weight_kg": "61.5"}
    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse("patient_new"), data)
    followed = client.get(response["Location"]) if response.status_code == 302 else response
    return response, _page(followed).replace(mrn, "X"), [_shape(q["sql"]) for q in queries.captured_queries]


def _request_rows(page: str) -> list[str]:
    section = re.search(r'<section class="card" id="registrations".*?</section>', page, re.S).group(0)
    rows = re.findall(r"<tr>\s*<td>.*?</tr>", section, re.S)
    # Each row without its MRN (the first cell) and its time.
    return [re.sub(r"\d{2} \w{3} \d{4} \d{2}:\d{2}", "TIME", re.sub(r"<td>[^<]*</td>", "<td>MRN</td>", row, count=1))
            for row in rows]


def _without_requests(page: str) -> str:
    return re.sub(r'<section class="card" id="registrations".*?</section>', "", page, flags=re.S)


def test_the_new_patient_form_answers_another_teams_mrn_as_an_unused_one(nurse_client, team, other_patient):
    theirs, their_page, their_queries = _new_patient(nurse_client, other_patient.mrn, team)
    unused, unused_page, unused_queries = _new_patient(nurse_client, "UNUSED-1", team)
    assert theirs.status_code == unused.status_code == 302 and theirs["Location"] == unused["Location"]
    # The page lists the nurse's own requests: the second page lists both. Each request's row reads
    # the same (MRN aside), and the rest of the page is the same.
    their_rows, unused_rows = _request_rows(their_page), _request_rows(unused_page)
    assert len(their_rows) == 1 and len(unused_rows) == 2
    assert their_rows[0] == unused_rows[0] == unused_rows[1] and "Waiting for an administrator" in their_rows[0]
    assert _without_requests(their_page) == _without_requests(unused_page)
    assert "sent to an administrator" in unused_page
    assert their_queries == unused_queries
    from monitoring.models import Patient, RegistrationRequest

    # Never a second patient with the same MRN; nothing typed is lost: both wait for an administrator.
    assert Patient.objects.filter(mrn=other_patient.mrn).count() == 1
    assert not Patient.objects.filter(mrn="UNUSED-1").exists()
    kept = {r.mrn: r for r in RegistrationRequest.objects.filter(status=RegistrationRequest.Status.OPEN)}
    assert set(kept) == {other_patient.mrn, "UNUSED-1"}
    assert kept["UNUSED-1"].values["phone"] == "0113 496 0000" and kept["UNUSED-1"].values["weight_kg"] == "61.5"
    assert kept["UNUSED-1"].team == team


def test_an_administrator_registers_the_request_as_typed_and_never_a_second_patient(
        nurse_client, team, other_patient, nurse):
    from monitoring import records
    from monitoring.models import Patient, RegistrationRequest
    from tests.conftest import make_user

    _new_patient(nurse_client, other_patient.mrn, team)
    _new_patient(nurse_client, "UNUSED-1", team)
    _new_patient(nurse_client, "UNUSED-1", team)  # a second click: the same request
    assert RegistrationRequest.objects.filter(mrn="UNUSED-1").count() == 1
    administrator = make_user("admin_ann", [], role="admin")
    unused = RegistrationRequest.objects.get(mrn="UNUSED-1")
    done, words = records.register_from_request(unused.pk, administrator)
    assert done, words
    patient = Patient.objects.get(mrn="UNUSED-1")
    assert (patient.team, patient.phone, patient.weight_kg, patient.family_name) == (
        team, "0113 496 0000", Decimal("61.5"), "Lovelace")
    unused.refresh_from_db()
    assert (unused.status, unused.patient, unused.requested_by) == ("registered", patient, nurse)
    clash = RegistrationRequest.objects.get(mrn=other_patient.mrn)
    done, words = records.register_from_request(clash.pk, administrator)
    assert not done and "already registered" in words
    assert Patient.objects.filter(mrn=other_patient.mrn).count() == 1
    clash.refresh_from_db()
    assert clash.status == "open"  # still there for the administrator to move the patient or refuse
    assert records.refuse_request(clash.pk, administrator, "Already under the haematology ward: call them.")


def test_the_new_patient_page_lists_the_nurses_requests_and_tells_an_administrator_how_many_wait(
        nurse_client, team, nurse):
    from django.test import Client

    from monitoring import records
    from monitoring.models import RegistrationRequest
    from tests.conftest import make_user

    _new_patient(nurse_client, "UNUSED-2", team)
    page = nurse_client.get(reverse("patient_new")).content.decode()
    assert "UNUSED-2" in page and "Waiting for an administrator" in page
    assert "wait for an administrator" not in page and "waits for an administrator" not in page  # not an admin

    administrator = make_user("admin_bea", [team], role="admin")
    client = Client()
    client.force_login(administrator)
    admin_page = client.get(reverse("patient_new")).content.decode()
    assert "1 request waits for an administrator" in admin_page and "UNUSED-2" not in admin_page  # not hers
    assert "/admin/monitoring/registrationrequest/?status__exact=open" in admin_page

    request = RegistrationRequest.objects.get(mrn="UNUSED-2")
    assert records.register_from_request(request.pk, administrator)[0]
    page = nurse_client.get(reverse("patient_new")).content.decode()
    patient = RegistrationRequest.objects.get(pk=request.pk).patient
    assert f'<a href="{patient.get_absolute_url()}">Patient registered</a>' in page
    assert "request waits" not in client.get(reverse("patient_new")).content.decode()


# --- The patient edit form: another team's MRN reads exactly as an unused one -----------------------

def _edit_patient(client, patient, mrn: str):
    data = {"mrn": mrn, "given_name": patient.given_name, "family_name": patient.family_name,
            "date_of_birth": "1960-03-04", "sex": "F", "team": patient.team_id, "active": "on"}
    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse("patient_edit", args=[patient.pk]), data)
    followed = client.get(response["Location"]) if response.status_code == 302 else response
    page = re.sub(r"\d{2} \w{3} \d{4} \d{2}:\d{2}", "TIME", _page(followed).replace(mrn, "X"))
    return (response.status_code, response.get("Location"), [t.name for t in followed.templates][:1], page,
            [_shape(q["sql"]) for q in queries.captured_queries])


def test_the_patient_edit_form_answers_another_teams_mrn_as_an_unused_one(nurse_client, patient, other_patient):
    theirs = _edit_patient(nurse_client, patient, other_patient.mrn)
    unused = _edit_patient(nurse_client, patient, "UNUSED-3")
    assert theirs[:3] == unused[:3], "status, where it leads and the page drawn"
    assert theirs[3] == unused[3], "the page, the MRN typed aside"
    assert theirs[4] == unused[4], "the same statements"
    assert other_patient.mrn not in theirs[3] and "Ask an administrator" not in theirs[3]
    # An MRN is changed by an administrator only: the edit form keeps the patient's own.
    patient.refresh_from_db()
    assert patient.mrn == "MRN001" and not Patient.objects.filter(mrn="UNUSED-3").exists()
    form = nurse_client.get(reverse("patient_edit", args=[patient.pk])).content.decode()
    assert re.search(r'<input[^>]*name="mrn"[^>]*disabled', form), "the MRN is shown, not editable"

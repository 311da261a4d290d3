"""The read trail: every request that shows patient data writes exactly one access-log entry.

A URL walk like the anonymous one: every route of the project, as a member of the patient's
team. A route this test does not know fails it, so a new page cannot skip the trail unnoticed.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import ProtectedError
from django.urls import reverse
from django.utils import timezone

from monitoring import treatment
from monitoring.models import AccessLog, ApiToken, Cycle, TreatmentCourse, User
from tests.conftest import make_user
from tests.integration.web.routes import fill, project_routes, team_objects

pytestmark = pytest.mark.django_db

# Routes without an id: what a request to each shows.
LISTS = {"ward", "alerts", "import_exceptions", "triage_follow_ups"}  # several patients: one entry naming those shown
# Forms that only take a POST (a GET is 405 before anything is read).
POST_ONLY = {"alert_acknowledge", "alert_antibiotics", "import_exception_fix", "import_exception_retry",
             "import_exception_dismiss", "triage_follow_up_done"}
# A blank form, the login page, aggregates (alert quality, calibration), the health check.
NO_PATIENT_DATA = {"login", "logout", "patient_new", "alert_quality", "forecast_calibration", "healthz"}
IMPORTS = {"import_upload", "api_results"}  # the report quotes the file's patients (POST only)
# A team's rota and its edits (issue 24): staff names, no patient data (other teams get 404, on the record).
TEAM_PAGES = {"rota", "rota_pattern_add", "rota_override_add", "rota_row_delete"}
# Read with an API token, not a session: its one entry is tested in tests/integration/forecasts/test_whatif.py.
TOKEN_READS = {"api_risk_assessments"}


def entries_since(before: int) -> list[AccessLog]:
    return list(AccessLog.objects.order_by("pk")[before:])


def test_every_patient_data_url_writes_one_access_log_entry(client, team, patient, regimens):
    oncologist = make_user("oncologist", [team], role="oncologist")  # may open every form
    objects = team_objects(patient, regimens)
    client.force_login(oncologist)
    walked = set()
    for name, route, params in project_routes():
        if name in TOKEN_READS:
            walked.add(name)
            continue
        if params and name not in TEAM_PAGES:
            url = fill(route, str(objects[route.split("/")[0]]))
            methods = ["post"] if name in POST_ONLY else ["get", "post"]
            for method in methods:
                before = AccessLog.objects.count()
                response = getattr(client, method)(url)
                # An empty POST may be refused as an invalid form (400): the record was still shown.
                answered = (200, 302, 400) if method == "post" else (200, 302)
                assert response.status_code in answered, f"{method.upper()} {url} answered {response.status_code}"
                (entry,) = entries_since(before)  # exactly one
                assert (entry.user, entry.patient_id, entry.path) == (oncologist, patient.pk, url)
                assert entry.action != AccessLog.Action.REFUSED
        elif name in LISTS:
            for url in (reverse(name), reverse(name) + "?q=Lovelace"):  # the ward's search too
                before = AccessLog.objects.count()
                assert client.get(url).status_code == 200
                (entry,) = entries_since(before)
                assert (entry.user, entry.action, entry.patients_shown) == (
                    oncologist, AccessLog.Action.LIST, [patient.pk]), url
        else:
            known = NO_PATIENT_DATA | IMPORTS | TEAM_PAGES
            assert name in known, f"route {route!r} ({name}) is unknown to this test: add it"
        walked.add(name)
    assert {"patient", "patient_edit", "count_edit", "cycle_give", "ward", "alerts", "cycle_summary_csv"} <= walked


def test_an_upload_and_an_api_post_are_on_the_record(client, nurse, team, patient):
    client.force_login(nurse)
    when = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    upload = SimpleUploadedFile("r.csv", f"mrn,collected_at,anc,unit\n{patient.mrn},{when},1.2,10^9/L\n".encode())
    assert client.post(reverse("import_upload"), {"file": upload}).status_code == 200
    token, raw = ApiToken.issue("lab", [team])
    body = f"mrn,collected_at,anc,unit\n{patient.mrn},{when},1.3,10^9/L\n"
    response = client.post(reverse("api_results"), body, content_type="text/csv",
                           headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 201
    upload_entry, api_entry = AccessLog.objects.order_by("pk")
    assert (upload_entry.user, upload_entry.action) == (nurse, AccessLog.Action.IMPORT)
    assert (api_entry.token, api_entry.action) == (token, AccessLog.Action.IMPORT)


def test_a_refused_id_that_does_not_exist_is_logged_too(nurse_client, nurse):
    assert nurse_client.get("/counts/987654/edit/").status_code == 404
    entry = AccessLog.objects.get()
    assert (entry.user, entry.action, entry.requested_id, entry.patient) == (
        nurse, AccessLog.Action.REFUSED, 987654, None)


# --- Every write goes through history; users with audit rows are deactivated, not deleted ---------


def test_starting_a_course_is_in_the_history_and_a_delay_keeps_the_original_day1(patient, regimens, nurse):
    first = timezone.now() + timedelta(days=1)
    old = treatment.start_course(patient, regimens["DOCETAXEL-75-Q3W"], first, 3)
    new = treatment.start_course(patient, regimens["DOCETAXEL-75-Q3W"], first + timedelta(days=2), 4)
    # Every cycle created has its history row, and ending the previous course is a change on record.
    assert Cycle.history.filter(history_type="+").count() == 7
    assert [h.active for h in TreatmentCourse.history.filter(id=old.pk).order_by("history_date")] == [True, False]
    cycle = new.cycles.get(number=1)
    treatment.delay_cycle(cycle, cycle.planned_day1 + timedelta(days=7), "ANC 0.9 on day 21")
    cycle.refresh_from_db()
    assert cycle.original_planned_day1 == first + timedelta(days=2)
    assert cycle.planned_day1 == first + timedelta(days=9)
    assert cycle.history.order_by("history_date").first().planned_day1 == first + timedelta(days=2)


def test_a_user_with_audit_rows_is_deactivated_never_deleted(client, team, nurse, patient):
    client.force_login(nurse)
    client.get(reverse("patient", args=[patient.pk]))  # she is now in the read trail
    with pytest.raises(ProtectedError):
        nurse.delete()
    with pytest.raises(ProtectedError):
        User.objects.filter(pk=nurse.pk).delete()
    assert AccessLog.objects.get().user == nurse

    admin = make_user("boss", [team], role="admin")
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    change = client.get(reverse("admin:monitoring_user_change", args=[nurse.pk])).content.decode()
    assert reverse("admin:monitoring_user_delete", args=[nurse.pk]) not in change
    assert client.get(reverse("admin:monitoring_user_delete", args=[nurse.pk])).status_code == 403
    response = client.post(reverse("admin:monitoring_user_changelist"),
                           {"action": "deactivate", "_selected_action": [nurse.pk]})
    assert response.status_code == 302
    nurse.refresh_from_db()
    assert not nurse.is_active
    # A user the trail does not name (made by mistake) can still be deleted.
    mistake = make_user("typo", [team])
    assert client.get(reverse("admin:monitoring_user_delete", args=[mistake.pk])).status_code == 200

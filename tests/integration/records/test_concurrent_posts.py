"""No 500 from a race (issue 25 item 4): 20 identical posts at once at each form, against a live server.

A double click, a nurse's impatient re-clicks or two tabs send the same form several times at
once. Each post runs in its own server thread on its own PostgreSQL connection; every one must be
answered (a redirect with "recorded" or "already recorded", or the form again), none with a 500,
and the record must be stored once.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from monitoring.models import (
    ApiToken,
    ChemoAdministration,
    CountResult,
    GcsfDose,
    ImportException,
    Patient,
    RegistrationRequest,
    TemperatureReading,
    TreatmentCourse,
)
from tests.conftest import start_on_regimen
from tests.integration.conftest import CONCURRENT_POSTS, CSRF

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]









def _local(hours_ago: float) -> str:
    return timezone.localtime(timezone.now() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")


def _assert_answered(answers, *, statuses=(302,)) -> list[str]:
    codes = sorted(status for status, _ in answers)
    assert all(status in statuses for status in codes), codes
    return [text for _, texts in answers for text in texts]


def test_twenty_identical_count_posts_store_one_count_and_no_500(fire, patient):
    answers = fire(f"/patients/{patient.pk}/counts/new/", {"collected_at": _local(2), "unit": "10^9/L", "anc": "1.4"})
    texts = _assert_answered(answers)
    assert CountResult.objects.count() == 1
    assert sum("Count recorded" in t for t in texts) == 1
    assert sum("already recorded" in t for t in texts) == CONCURRENT_POSTS - 1


def test_twenty_identical_count_posts_with_an_accession(fire, patient):
    answers = fire(f"/patients/{patient.pk}/counts/new/",
                   {"collected_at": _local(2), "unit": "10^9/L", "anc": "1.4", "accession": "LAB-1"})
    statuses = {status for status, _ in answers}
    assert statuses <= {200, 302}, statuses  # the form again ("already recorded") or a redirect
    assert CountResult.objects.count() == 1


def test_twenty_identical_gcsf_posts(fire, patient):
    answers = fire(f"/patients/{patient.pk}/gcsf/new/", {
        "product_name": "filgrastim", "given_at": _local(3), "dose": "300", "dose_unit": "ug", "route": "SC"})
    texts = _assert_answered(answers)
    assert GcsfDose.objects.count() == 1 and sum("already recorded" in t for t in texts) == CONCURRENT_POSTS - 1


def test_twenty_identical_temperature_posts(fire, patient):
    answers = fire(f"/patients/{patient.pk}/temperatures/new/",
                   {"taken_at": _local(1), "value": "37.2", "unit": "C", "site": "oral"})
    texts = _assert_answered(answers)
    assert TemperatureReading.objects.count() == 1
    assert sum("already recorded" in t for t in texts) == CONCURRENT_POSTS - 1


def test_twenty_identical_new_patient_posts(fire, team):
    answers = fire("/patients/new/", {"mrn": "RACE-1", "given_name": "Ada", "family_name": "Lovelace",
                                      "date_of_birth": "1960-03-04", "sex": "F", "team": team.pk, "active": "on"})
    texts = _assert_answered(answers)
    # A new patient is a registration request for an administrator (issue 25 item 5): one, however
    # many posts; every post gets the same answer.
    assert RegistrationRequest.objects.filter(mrn="RACE-1").count() == 1
    assert not Patient.objects.filter(mrn="RACE-1").exists()
    assert len(set(texts)) == 1 and "sent to an administrator" in texts[0]


def test_twenty_identical_course_posts_start_one_course(fire, patient, oncologist, live_server, regimens):
    from django.test import Client as DjangoClient

    client = DjangoClient()
    client.force_login(oncologist)
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}"
    regimen = regimens["DOCETAXEL-75-Q3W"]
    body = urlencode({"regimen": regimen.pk, "first_day1": timezone.localdate().isoformat(), "n_cycles": 4,
                      "csrfmiddlewaretoken": CSRF})
    answers = fire(f"/patients/{patient.pk}/courses/new/", body,
                   {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    _assert_answered(answers)
    assert TreatmentCourse.objects.filter(patient=patient).count() == 1


def test_twenty_identical_give_cycle_posts(fire, patient, regimens):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=0, give=False)
    answers = fire(f"/cycles/{cycle.pk}/give/", {"given_at": _local(0.5), "dose_fraction": "1.00",
                                                 "override_reason": "Consultant reviewed the count by phone."})
    _assert_answered(answers, statuses=(200, 302))
    assert ChemoAdministration.objects.filter(cycle=cycle).count() == 1


def test_twenty_identical_api_posts(fire, patient, team):
    _, token = ApiToken.issue("lab", [team])
    body = f"mrn,collected_at,anc,unit,accession\n{patient.mrn},{_local(2)},1.4,10^9/L,ACC-9\n"
    answers = fire("/api/v1/results", body, {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
    assert sorted(status for status, _ in answers) == [200] * (CONCURRENT_POSTS - 1) + [201]
    assert CountResult.objects.count() == 1


def test_twenty_identical_api_posts_of_a_bad_record_keep_it_once(fire, patient, team):
    _, token = ApiToken.issue("lab", [team])
    body = f"mrn,collected_at,anc,unit,accession\n{patient.mrn},{_local(2)},3000,10^9/L,ACC-9\n"
    answers = fire("/api/v1/results", body, {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
    assert {status for status, _ in answers} == {202}
    assert ImportException.objects.count() == 1


def test_twenty_identical_delay_posts_move_later_cycles_once(fire, patient, regimens, oncologist):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=0, give=False)
    second = cycle.course.cycles.get(number=2)
    planned = second.planned_day1
    client = Client()
    client.force_login(oncologist)
    new_day1 = timezone.localtime(cycle.planned_day1 + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    body = urlencode({"new_day1": new_day1, "reason": "ANC 0.9 on day 1", "csrfmiddlewaretoken": CSRF})
    answers = fire(f"/cycles/{cycle.pk}/delay/", body, {
        "Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}",
        "Content-Type": "application/x-www-form-urlencoded"})
    statuses = {status for status, _ in answers}
    assert statuses <= {200, 302}, statuses
    second.refresh_from_db()
    assert abs(second.planned_day1 - planned - timedelta(days=7)) < timedelta(minutes=1)  # once, not 20 times

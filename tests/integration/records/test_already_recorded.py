"""The same form sent twice in a row answers "already recorded" (issue 25 item 4); runs on SQLite too."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from monitoring.models import ChemoAdministration, RegistrationRequest, TreatmentCourse
from monitoring.views import races
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


def _local(hours_ago: float) -> str:
    return timezone.localtime(timezone.now() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")


def _said(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_a_cycle_given_twice_is_recorded_once(nurse_client, patient, regimens):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=0, give=False)
    data = {"given_at": _local(0.5), "dose_fraction": "1.00", "override_reason": "Reviewed by phone."}
    first = nurse_client.post(reverse("cycle_give", args=[cycle.pk]), data)
    second = nurse_client.post(reverse("cycle_give", args=[cycle.pk]), data)
    assert first.status_code == second.status_code == 302
    assert "already recorded as given" in _said(second)
    assert ChemoAdministration.objects.filter(cycle=cycle).count() == 1


def test_a_course_started_twice_is_started_once(client, oncologist, patient, regimens):
    client.force_login(oncologist)
    data = {"regimen": regimens["DOCETAXEL-75-Q3W"].pk, "first_day1": _local(-24), "n_cycles": 4}
    client.post(reverse("course_new", args=[patient.pk]), data)
    second = client.post(reverse("course_new", args=[patient.pk]), data)
    assert "already recorded" in _said(second)
    assert TreatmentCourse.objects.filter(patient=patient).count() == 1


def test_a_new_patient_sent_twice_is_one_registration_request(nurse_client, team):
    data = {"mrn": "TWICE-1", "given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1960-03-04",
            "sex": "F", "team": team.pk, "active": "on"}
    first = nurse_client.post(reverse("patient_new"), data)
    second = nurse_client.post(reverse("patient_new"), data)
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert RegistrationRequest.objects.filter(mrn="TWICE-1").count() == 1


def test_only_a_unique_clash_is_read_as_already_recorded():
    def clash():
        raise IntegrityError('UNIQUE constraint failed: monitoring_countresult.patient_id')

    def check_failed():
        raise IntegrityError('CHECK constraint failed: anc_not_negative')

    assert races.unless_recorded(clash) is None
    with pytest.raises(IntegrityError):
        races.unless_recorded(check_failed)

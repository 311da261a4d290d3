"""A nurse's registration request is e-mailed to the administrators, over a real SMTP socket.

Until an administrator registers the patient nobody can record her counts and her lab results are
held as unregistered, so the request must not wait unseen until an administrator happens to open a
page (the menu's count, test_registrations_waiting.py, is the backstop when mail or broker is down).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from monitoring.models import RegistrationRequest
from tests.conftest import make_user, point_broker_at

pytestmark = pytest.mark.django_db

FORM = {"mrn": "MRN-MAIL-1", "given_name": "Mary", "family_name": "Seacole", "date_of_birth": "1955-11-23",
        "sex": "F"}


@pytest.fixture
def administrators(team):
    first = make_user("administrator", [team], role="admin")
    second = make_user("deputy", [], role="admin")
    make_user("nurse2", [team])  # a nurse is not told
    retired = make_user("retired", [], role="admin")
    retired.is_active = False
    retired.save()
    return first, second


@pytest.fixture
def smtp(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.server_address[1]
    return smtp_server


def post_form(client, team, **changes):
    return client.post(reverse("patient_new"), {**FORM, "team": team.pk, **changes}, follow=True)


def test_a_new_request_is_mailed_once_to_every_active_administrator_with_mrn_and_initials_only(
        nurse_client, team, administrators, smtp, eager_retries, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert post_form(nurse_client, team).status_code == 200

    request = RegistrationRequest.objects.get(mrn="MRN-MAIL-1")
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert "administrator@example.org" in message and "deputy@example.org" in message
    assert "retired@example.org" not in message and "nurse2@example.org" not in message
    assert "Subject: [NeutroWatch] Registration waiting: MRN MRN-MAIL-1 MS (" in message
    assert "Seacole" not in message and "Mary" not in message  # e-mail leaves the hospital: no names
    assert reverse("admin:monitoring_registrationrequest_change", args=[request.pk]) in message

    with django_capture_on_commit_callbacks(execute=True):  # the nurse corrects a detail and sends again
        post_form(nurse_client, team, given_name="Marie")
    assert len(smtp.messages) == 1 and RegistrationRequest.objects.filter(mrn="MRN-MAIL-1").count() == 1


def test_a_mail_server_refusing_for_now_is_tried_again(nurse_client, team, administrators, smtp, eager_retries,
                                                       django_capture_on_commit_callbacks):
    smtp.failures = 1  # 451 once
    with django_capture_on_commit_callbacks(execute=True):
        post_form(nurse_client, team)

    assert len(smtp.messages) == 1


def test_with_the_broker_down_the_request_is_kept_and_the_nurse_told_as_usual(
        nurse_client, team, administrators, smtp, django_capture_on_commit_callbacks):
    from neutrowatch.celery import app

    original = app.conf.broker_url
    point_broker_at("redis://127.0.0.1:6390/0")  # nothing listens there
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_form(nurse_client, team)
    finally:
        point_broker_at(original)

    assert response.status_code == 200
    assert "Registration of MRN MRN-MAIL-1 sent to an administrator" in response.content.decode()
    assert RegistrationRequest.objects.filter(mrn="MRN-MAIL-1", status="open").exists()
    assert smtp.messages == []  # not mailed; the administrators' menu counts it (test_registrations_waiting.py)

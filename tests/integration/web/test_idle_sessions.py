"""Sessions end when the person stops (issue 25 item 2): the ward's timed refresh is not activity."""
from __future__ import annotations

import pytest
from django.urls import reverse

from monitoring.guards import idle

pytestmark = pytest.mark.django_db

REFRESH = {idle.AUTO_REFRESH_HEADER: "1", "HX-Request": "true"}


class Clock:
    """The middleware's clock, moved by the test instead of waiting."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, settings):
    settings.SESSION_IDLE_SECONDS = 60  # SESSION_IDLE_MINUTES=1, as in the adversarial run
    moved = Clock()
    monkeypatch.setattr(idle, "now_s", moved)
    return moved


def _refresh(client):
    return client.get(reverse("ward"), headers=REFRESH)


def test_a_ward_left_open_with_its_refresh_running_is_logged_out_after_the_idle_limit(nurse_client, clock):
    assert nurse_client.get(reverse("ward")).status_code == 200  # the nurse opens the ward, then walks away
    for _ in range(2):  # refreshes at 30 s and 60 s: still within the limit, rows answered
        clock.now += 30
        response = _refresh(nurse_client)
        assert response.status_code == 200 and b"ward-status" in response.content
    clock.now += 30  # 90 s after the last thing she did
    response = _refresh(nurse_client)
    assert response.status_code == 200 and response["HX-Redirect"].startswith(reverse("login"))
    assert b"ward-status" not in response.content
    # The session is gone: htmx loads the login page as the page, with a word why.
    page = nurse_client.get(response["HX-Redirect"])
    assert "signed out after 1 min without activity" in page.content.decode()
    assert nurse_client.get(reverse("ward"))["Location"].startswith(reverse("login"))


def test_the_refresh_never_extends_the_session_however_often_it_runs(nurse_client, clock):
    nurse_client.get(reverse("ward"))
    for _ in range(12):  # every 5 s for a minute
        clock.now += 5
        assert _refresh(nurse_client).status_code == 200
    clock.now += 5
    assert "HX-Redirect" in _refresh(nurse_client)


def test_what_the_person_does_keeps_the_session(nurse_client, clock, patient):
    nurse_client.get(reverse("ward"))
    for _ in range(5):  # a click every 50 s for 4 minutes, with refreshes between
        clock.now += 25
        assert _refresh(nurse_client).status_code == 200
        clock.now += 25
        assert nurse_client.get(reverse("patient", args=[patient.pk])).status_code == 200
    clock.now += 59
    assert _refresh(nurse_client).status_code == 200


def test_an_automatic_refresh_does_not_save_the_session(nurse_client, clock):
    from django.contrib.sessions.models import Session

    nurse_client.get(reverse("ward"))
    key = nurse_client.session.session_key
    expiry = Session.objects.get(session_key=key).expire_date
    clock.now += 30
    response = _refresh(nurse_client)
    assert response.status_code == 200 and "sessionid" not in response.cookies
    assert Session.objects.get(session_key=key).expire_date == expiry


def _poll_headers(html: str) -> dict:
    """Return the headers the patient page's forecast poll is sent with (its own and inherited hx-headers)."""
    import json
    import re

    element = re.search(r'<p id="forecast-freshness"[^>]*>', html).group(0)
    assert "hx-get" in element, "the page does not poll"
    declared = re.search(r"hx-headers='([^']*)'", element)
    return {**(json.loads(declared.group(1)) if declared else {}), "HX-Request": "true"}


def test_a_patient_page_left_open_while_its_forecast_is_updating_is_logged_out(nurse_client, clock, patient,
                                                                                 regimens):
    from tests.conftest import start_on_regimen

    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=3)  # no forecast yet: "forecast updating"
    page = nurse_client.get(reverse("patient", args=[patient.pk])).content.decode()
    poll_url = reverse("patient_forecast", args=[patient.pk])
    headers = _poll_headers(page)
    for _ in range(4):  # the worker is down: the page asks every 15 s, as the poll it was answered says
        clock.now += 15
        answer = nurse_client.get(poll_url, {"n": "500"}, headers=headers)
        assert answer.status_code == 200 and "HX-Redirect" not in answer
        headers = _poll_headers(answer.content.decode())
    clock.now += 15  # 75 s after she last did anything
    answer = nurse_client.get(poll_url, {"n": "500"}, headers=headers)
    assert "HX-Redirect" in answer, "the poll kept the session alive"
    assert answer["HX-Redirect"].startswith(reverse("login"))
    assert nurse_client.get(reverse("patient", args=[patient.pk]))["Location"].startswith(reverse("login"))

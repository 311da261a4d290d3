"""The ward's shared rows (views/ward_cache.py, issue 25 item 7), on the real Redis of REDIS_URL.

The rest of the suite runs with WARD_ROWS_MAX_AGE_SECONDS = 0 (every ward drawn from the tables);
here the rows are shared as deployed: never older than the max age, never older than the viewer's
own change, never another team's, and drawn directly when the cache is down (a closed port, not a mock).
"""

from __future__ import annotations

import socket
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from monitoring.models import Alert
from monitoring.views import ward_cache
from tests.conftest import make_patient, make_user, start_on_regimen
from tests.story import add_count, raise_alert

pytestmark = pytest.mark.django_db


def _ward_cache(settings, location: str, max_age: float) -> None:
    settings.WARD_ROWS_MAX_AGE_SECONDS = max_age
    # A prefix of its own: another run of this file on the same Redis never shares its rows.
    settings.CACHES = {**settings.CACHES, "ward": {**settings.CACHES["ward"], "LOCATION": location,
                                                    "KEY_PREFIX": f"nw-ward-test-{uuid.uuid4().hex}"}}
    ward_cache._cache_down_until = 0.0


@pytest.fixture
def shared(settings):
    """Share the ward's rows through the real Redis for `max_age` seconds; return a setter."""
    def share(max_age: float = 60.0) -> None:
        _ward_cache(settings, settings.REDIS_URL, max_age)

    share()
    yield share
    ward_cache._cache_down_until = 0.0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def _ward(client, headers: dict | None = None, **query) -> str:
    response = client.get(reverse("ward"), query, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def _row(html: str, patient_id: int) -> str:
    rows = (row.split("</tr>")[0] for row in html.split('<tr class="risk-row')[1:])
    return next(row for row in rows if f'data-patient="{patient_id}"' in row)


def _patients_shown(html: str) -> set[str]:
    return {row.split('data-patient="')[1].split('"')[0] for row in html.split('<tr class="risk-row')[1:]}


def test_a_new_count_is_on_the_shared_ward_within_the_max_age(client, shared, nurse, team, regimens):
    patient = make_patient(team, mrn="AGE1")
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    add_count(patient, timezone.now() - timedelta(days=2), "3.10")
    other = make_user("colleague", [team])
    client.force_login(nurse)
    assert "<strong>3.1</strong>" in _row(_ward(client), patient.pk)

    add_count(patient, timezone.now() - timedelta(minutes=5), "0.30")  # from the lab: nobody's own change
    client.force_login(other)
    assert "<strong>3.1</strong>" in _row(_ward(client), patient.pk), "a colleague of the same team shares the rows"

    shared(max_age=1.0)
    client.force_login(nurse)
    _ward(client)  # drawn now: a second's age from here
    add_count(patient, timezone.now() - timedelta(minutes=1), "0.20")
    time.sleep(1.05)
    row = _row(_ward(client), patient.pk)
    assert "<strong>0.2</strong>" in row and "Grade 4" in row, "a second later the lab's count is on the ward"


def test_her_own_acknowledgement_is_on_the_ward_she_is_sent_back_to(client, shared, nurse, team, regimens):
    patient = make_patient(team, mrn="OWN1", family_name="Own")
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    alert = raise_alert(patient, cycle)
    client.force_login(nurse)
    assert "ack-one" in _row(_ward(client), patient.pk)  # drawn and shared for a minute

    response = client.post(reverse("alert_acknowledge", args=[alert.pk]), {"note": "phoned", "next": reverse("ward")},
                           follow=True)

    row = _row(response.content.decode(), patient.pk)
    assert f'data-in-hand="{alert.pk}"' in row and "ack-one" not in row
    assert Alert.objects.get(pk=alert.pk).acknowledged_by == nurse


def test_her_own_new_count_is_on_the_ward_at_once(client, shared, nurse, team, regimens):
    patient = make_patient(team, mrn="OWN2")
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    client.force_login(nurse)
    assert "No counts" in _row(_ward(client), patient.pk)

    when = timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    client.post(reverse("count_new", args=[patient.pk]), {"collected_at": when, "unit": "10^9/L", "anc": "0.4"})

    row = _row(_ward(client), patient.pk)
    assert "<strong>0.4</strong>" in row and "Grade 4" in row


def test_shared_rows_never_show_another_teams_patients(client, shared, team, other_team, regimens):
    ours = make_patient(team, mrn="TEAM-A", family_name="Ours")
    theirs = make_patient(other_team, mrn="TEAM-B", family_name="Theirs")
    for patient in (ours, theirs):
        start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    only_a, only_b, both = make_user("a", [team]), make_user("b", [other_team]), make_user("ab", [team, other_team])

    shown = {}
    for user in (only_a, both, only_b, only_a, both):  # each after the others' rows were shared
        client.force_login(user)
        shown[user.username] = _patients_shown(_ward(client))
    assert shown == {"a": {str(ours.pk)}, "b": {str(theirs.pk)}, "ab": {str(ours.pk), str(theirs.pk)}}

    client.force_login(both)
    assert _patients_shown(_ward(client, team=other_team.pk)) == {str(theirs.pk)}, "filtered from her teams' rows"
    assert _patients_shown(_ward(client, q="Ours")) == {str(ours.pk)}, "the search is in the key"
    assert _patients_shown(_ward(client)) == {str(ours.pk), str(theirs.pk)}


def test_with_the_cache_down_the_ward_is_drawn_directly_and_current(client, settings, nurse, team, regimens):
    _ward_cache(settings, f"redis://127.0.0.1:{_closed_port()}/0", max_age=60.0)
    patient = make_patient(team, mrn="DOWN1")
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    add_count(patient, timezone.now() - timedelta(days=2), "3.10")
    client.force_login(nurse)
    try:
        assert "<strong>3.1</strong>" in _row(_ward(client), patient.pk)
        add_count(patient, timezone.now() - timedelta(minutes=5), "0.30")
        assert "<strong>0.3</strong>" in _row(_ward(client), patient.pk), "drawn from the tables, not an old copy"
        ward_cache._cache_down_until = 0.0  # past the pause: the cache is tried again, and fails again
        assert "<strong>0.3</strong>" in _row(_ward(client, headers={"HX-Request": "true"}), patient.pk)
    finally:
        ward_cache._cache_down_until = 0.0


def test_a_shared_ward_costs_a_fixed_number_of_queries_however_many_patients(client, shared, nurse, team, regimens):
    def queries() -> tuple[int, int]:
        client.force_login(nurse)  # a new session: no own change to wait for
        with CaptureQueriesContext(connection) as drawn:
            _ward(client)
        with CaptureQueriesContext(connection) as again:
            html = _ward(client)
        assert len(_patients_shown(html)) == len(patients)
        return len(drawn), len(again)

    patients = [make_patient(team, mrn=f"Q{n}") for n in range(3)]
    for patient in patients:
        start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
        add_count(patient, timezone.now() - timedelta(days=1), "1.5")
    drawn_few, shared_few = queries()
    for n in range(3, 12):
        patients.append(make_patient(team, mrn=f"Q{n}"))
        start_on_regimen(patients[-1], regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    shared(max_age=60.0)  # a new key prefix: the first request draws again
    drawn_more, shared_more = queries()

    assert shared_few == shared_more, "the shared rows cost the same however many patients"
    assert shared_few <= drawn_few - 5, "the five row queries are not made"
    assert drawn_few == drawn_more


def test_filtered_wards_pick_the_same_rows_from_the_shared_ones_as_drawn_alone(client, settings, shared, nurse,
                                                                               team, other_team, regimens):
    nurse.teams.add(other_team)
    high = make_patient(team, mrn="F-HIGH", family_name="High")
    alerted = make_patient(other_team, mrn="F-ALERT", family_name="Alerted")
    calm = make_patient(team, mrn="F-CALM", family_name="Calm")
    for patient in (high, alerted, calm):
        start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    add_count(high, timezone.now() - timedelta(hours=3), "0.30")  # grade 4: high risk, and its alert
    add_count(calm, timezone.now() - timedelta(hours=3), "4.0")
    raise_alert(alerted, alerted.courses.get().cycles.get(number=1), kind=Alert.Kind.GRADE3_OBSERVED,
                severity=Alert.Severity.LOW)
    queries = [{}, {"risk": "high"}, {"risk": "medium"}, {"risk": "low"}, {"alerts": "1"},
               {"team": other_team.pk}, {"team": team.pk, "risk": "low"}]
    client.force_login(nurse)

    shared_pages = [_patients_shown(_ward(client, **query)) for query in queries]
    settings.WARD_ROWS_MAX_AGE_SECONDS = 0
    drawn_pages = [_patients_shown(_ward(client, **query)) for query in queries]

    assert shared_pages == drawn_pages
    assert shared_pages[1] == {str(high.pk)} and shared_pages[5] == {str(alerted.pk)}
    assert shared_pages[4] == {str(high.pk), str(alerted.pk)}


def test_rows_past_half_their_age_are_drawn_again_after_a_response_not_before_it(client, shared, nurse, team,
                                                                                 regimens):
    patient = make_patient(team, mrn="AHEAD1")
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    add_count(patient, timezone.now() - timedelta(days=2), "3.10")
    shared(max_age=2.0)
    client.force_login(nurse)
    _ward(client)
    add_count(patient, timezone.now() - timedelta(minutes=5), "0.30")
    time.sleep(1.1)  # past half of the 2 s: still shown, and drawn again once this answer is sent

    with CaptureQueriesContext(connection) as served:
        assert "<strong>3.1</strong>" in _row(_ward(client), patient.pk), "her page did not wait for a drawing"
    with CaptureQueriesContext(connection) as next_one:
        assert "<strong>0.3</strong>" in _row(_ward(client), patient.pk), "the next one has the rows drawn after it"
    assert len(next_one) < len(served), "drawn after the previous response, not for this one"

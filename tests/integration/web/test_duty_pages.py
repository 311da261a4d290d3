"""The rota page, the triage call page and the ward's duty panel (PostgreSQL and SQLite)."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from django.utils import timezone

from monitoring.models import Alert, RotaOverride, ShiftPattern, TeamDuty, TemperatureReading, TriageCall
from tests.conftest import make_user, start_on_regimen
from tests.integration.triage.symptoms import load_triage_table
from tests.story import raise_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, team):
    client.force_login(make_user("boss", [team], role="admin"))
    return client


def test_the_ward_shows_who_is_on_duty_now_and_until_when(nurse_client, team, nurse):
    now = timezone.now()
    RotaOverride.objects.create(team=team, user=nurse, starts_at=now - timedelta(hours=1),
                                ends_at=now + timedelta(hours=3))
    page = nurse_client.get("/").content.decode()
    until = timezone.localtime(now + timedelta(hours=3))
    day = "today" if until.date() == timezone.localtime(now).date() else "tomorrow"
    assert 'id="duty-panel"' in page and f"Nurse (nurse on duty) until {until:%H:%M} {day}" in page


def test_on_duty_for_a_week_or_more_says_until_which_date(nurse_client, team, nurse):
    # A registrar on every shift (or cover for a fortnight) is on until a date more than a week away:
    # "until Sun 08:00" read as tomorrow morning, not a week on Sunday.
    now = timezone.now()
    RotaOverride.objects.create(team=team, user=nurse, starts_at=now - timedelta(hours=1),
                                ends_at=now + timedelta(days=8))
    until = timezone.localtime(now + timedelta(days=8))
    for page in (nurse_client.get("/").content.decode(), nurse_client.get(f"/teams/{team.pk}/rota/").content.decode()):
        assert f"until {until:%a %d %b}" in page and f"until {until:%a %H:%M}" not in page


def test_the_ward_says_when_nobody_is_on_duty(nurse_client, team):
    assert "nobody on duty" in nurse_client.get("/").content.decode()


def test_a_nurse_sees_the_rota_but_cannot_edit_it(nurse_client, team):
    page = nurse_client.get(f"/teams/{team.pk}/rota/")
    assert page.status_code == 200 and "Add a weekly shift" not in page.content.decode()
    response = nurse_client.post(f"/teams/{team.pk}/rota/patterns/", {})
    assert response.status_code == 403


def test_a_team_lead_edits_the_rota(client, team, nurse):
    lead = make_user("lead", [team])
    TeamDuty.objects.create(team=team).leads.add(lead)
    client.force_login(lead)
    response = client.post(f"/teams/{team.pk}/rota/patterns/", {
        "user": nurse.pk, "role": "nurse", "weekdays": ["0", "1", "2"], "starts": "08:00", "ends": "18:00"})
    assert response.status_code == 302
    assert sorted(ShiftPattern.objects.filter(team=team).values_list("weekday", flat=True)) == [0, 1, 2]
    assert ShiftPattern.objects.first().starts == time(8)


def test_an_administrator_adds_cover_and_a_bad_one_is_refused(admin_client, team, nurse):
    other = make_user("cover", [team])
    good = {"user": other.pk, "role": "nurse", "starts_at": "2026-12-07T08:00", "ends_at": "2026-12-07T18:00",
            "replaces": nurse.pk, "reason": "leave"}
    assert admin_client.post(f"/teams/{team.pk}/rota/overrides/", good).status_code == 302
    override = RotaOverride.objects.get()
    assert override.replaces == nurse and override.created_by.username == "boss"
    bad = {**good, "ends_at": "2026-12-07T07:00"}
    response = admin_client.post(f"/teams/{team.pk}/rota/overrides/", bad)
    assert response.status_code == 400 and "The end must be after the start." in response.content.decode()


def test_another_teams_rota_is_not_found(nurse_client, other_team):
    assert nurse_client.get(f"/teams/{other_team.pk}/rota/").status_code == 404


def test_administrators_see_and_edit_every_teams_rota(client, other_team):
    """The administrator role and a superuser alike (User.is_administrator), in a team or not."""
    superuser = make_user("root", [])
    superuser.is_superuser = True
    superuser.save()
    for user in (make_user("boss", [], role="admin"), superuser):
        client.force_login(user)
        page = client.get(f"/teams/{other_team.pk}/rota/")
        assert page.status_code == 200 and "Add a weekly shift" in page.content.decode()


def test_a_triage_call_from_the_patient_page(nurse_client, patient):
    table = load_triage_table()
    page = nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    assert f'href="/patients/{patient.pk}/triage/"' in page
    form = nurse_client.get(f"/patients/{patient.pk}/triage/").content.decode()
    assert "Latest ANC" in form and "Mucositis (sore mouth)" in form
    data = {f"symptom_{s.pk}": "green" for s in table.values()}
    data[f"symptom_{table['Vomiting'].pk}"] = "amber"
    data.update(temperature="37.1", caller="patient", advice="Antiemetics as prescribed; ring back if worse")
    response = nurse_client.post(f"/patients/{patient.pk}/triage/", data)
    assert response.status_code == 302
    call = TriageCall.objects.get()
    assert call.outcome == "call_back" and call.advice.startswith("Antiemetics")
    assert TemperatureReading.objects.filter(patient=patient, temperature_c="37.1").exists()
    ward = nurse_client.get("/").content.decode()
    panel = ward.split('id="duty-panel"')[1].split("</section>")[0]
    assert "1 triage follow-up call to make" in panel and patient.family_name not in panel
    listed = nurse_client.get("/triage/follow-ups/").content.decode()
    assert patient.family_name in listed and "Antiemetics" in listed
    assert nurse_client.post(f"/triage/{call.pk}/follow-up-done/").status_code == 302
    assert 'id="follow-ups"' not in nurse_client.get("/").content.decode()
    assert "None to make." in nurse_client.get("/triage/follow-ups/").content.decode()


def test_a_red_triage_call_says_an_alert_went_out(nurse_client, patient):
    table = load_triage_table()
    data = {f"symptom_{table['Breathlessness'].pk}": "red"}
    response = nurse_client.post(f"/patients/{patient.pk}/triage/", data, follow=True)
    assert "A critical alert has gone to the person on duty." in response.content.decode()
    assert Alert.objects.get(patient=patient).kind == Alert.Kind.TRIAGE_RED


def test_an_impossible_temperature_is_refused(nurse_client, patient):
    load_triage_table()
    response = nurse_client.post(f"/patients/{patient.pk}/triage/", {"temperature": "83"})
    assert response.status_code == 400 and not TriageCall.objects.exists()


def test_another_teams_patient_has_no_triage_page(nurse_client, other_patient):
    assert nurse_client.get(f"/patients/{other_patient.pk}/triage/").status_code == 404


def test_each_triage_radio_names_its_symptom(nurse_client, patient):
    # A radio's label is only its grade's words ("None", "Felt cold and shivery once"); a screen
    # reader tabbing through the table must also hear which symptom the row is.
    table = load_triage_table()
    form = nurse_client.get(f"/patients/{patient.pk}/triage/").content.decode()
    radios = re.findall(r'<input type="radio"[^>]*>', form)
    assert len(radios) == 3 * len(table)
    for radio in radios:
        described = re.search(r'aria-describedby="([^"]+)"', radio)
        assert described, radio
        header = re.search(rf'<th scope="row" id="{described.group(1)}">([^<]+)</th>', form)
        pk = int(re.search(r'name="symptom_(\d+)"', radio).group(1))
        assert header and header.group(1) == next(s.name for s in table.values() if s.pk == pk)


def test_the_triage_page_names_the_cycle_of_each_open_alert(nurse_client, patient, regimens):
    # The demo's febrile-neutropenia patient has a grade 4 alert open in each of three cycles: they
    # read "Critical: Grade 4 neutropenia observed" three times over beside the call.
    load_triage_table()
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=30)
    cycle2 = cycle1.course.cycles.get(number=2)
    for cycle, hours_ago in ((cycle1, 300), (cycle2, 20)):
        raise_alert(patient, cycle, raised_at=timezone.now() - timedelta(hours=hours_ago))
    form = nurse_client.get(f"/patients/{patient.pk}/triage/").content.decode()
    listed = form.split("<dt>Open alerts</dt>")[1].split("</dd>")[0]
    assert "Critical: Grade 4 neutropenia observed (cycle 2, raised " in listed
    assert "Critical: Grade 4 neutropenia observed (cycle 1, raised " in listed


def test_a_refused_shift_shows_each_error_under_its_own_field(admin_client, team, nurse):
    # The form put "This field is required." above each label, so the days' error read as the
    # role's and the missing handover-out as the handover-in the nurse had typed.
    response = admin_client.post(f"/teams/{team.pk}/rota/patterns/", {"user": nurse.pk, "role": "nurse",
                                                                         "starts": "08:00"})
    html = response.content.decode()
    assert response.status_code == 400
    for field, error in (("weekdays", "id_weekdays_error"), ("ends", "id_ends_error")):
        error_at = html.index(f'id="{error}"')
        assert html.rfind(f'name="{field}"', 0, error_at) > html.rfind("<label", 0, error_at), field
    assert 'value="08:00"' in html  # what was typed comes back

"""Issue 15, server side: the ward says what to do, alerts read like a handover, alert quality."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import charts, selectors
from monitoring.models import Alert
from tests.conftest import make_patient, start_on_regimen
from tests.story import add_count, build_story_patient, raise_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def ward(team, other_team, regimens, nurse):
    """Deep: grade 4 now and a critical alert; Fever: only a febrile-neutropenia alert."""
    now = timezone.now()
    deep = make_patient(team, mrn="DEEP1", family_name="Deep", phone="07700 900001", nurse=nurse)
    deep_cycle = start_on_regimen(deep, regimens["DOCETAXEL-75-Q3W"], days_ago=9)
    add_count(deep, now - timedelta(hours=30), "1.2")
    add_count(deep, now - timedelta(minutes=50), "0.3")
    grade4 = raise_alert(deep, deep_cycle, Alert.Kind.GRADE4_OBSERVED, Alert.Severity.CRITICAL,
                         raised_at=now - timedelta(hours=3))
    fever = make_patient(team, mrn="FEVER1", family_name="Fever", phone="07700 900002", nurse=nurse)
    fever_cycle = start_on_regimen(fever, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    fn = raise_alert(fever, fever_cycle, Alert.Kind.FEBRILE_NEUTROPENIA, Alert.Severity.CRITICAL,
                     raised_at=now - timedelta(minutes=30),
                     evidence={"temperature_c": "38.6", "taken_at": (now - timedelta(minutes=40)).isoformat()})
    also = raise_alert(fever, fever_cycle, Alert.Kind.GRADE4_OBSERVED, Alert.Severity.CRITICAL,
                       raised_at=now - timedelta(hours=6))
    team.on_call_phone = "01632 960100"
    team.save()
    theirs = make_patient(other_team, mrn="THEIRS1")
    raise_alert(theirs, start_on_regimen(theirs, regimens["DOCETAXEL-75-Q3W"], days_ago=8))
    return {"deep": deep, "fever": fever, "grade4": grade4, "fn": fn, "also": also}


def test_ward_puts_febrile_neutropenia_first_in_words_with_trend_and_hours(nurse_client, ward):
    html = nurse_client.get(reverse("ward")).content.decode()
    assert re.findall(r"MRN (\w+)", html) == ["FEVER1", "DEEP1"]
    first_row = html.split('data-patient="')[1]
    assert "Febrile neutropenia suspected - start FN pathway" in first_row and "sev-fn" in first_row
    assert "+1 more" in first_row
    deep_row = html.split('data-patient="')[2]
    assert "falling from 1.2" in deep_row and "50 min ago" in deep_row
    assert f'action="/alerts/{ward["grade4"].pk}/acknowledge/"' in deep_row  # one-click acknowledge
    assert re.search(r'id="nav-alert-count">\s*<span class="count-badge">3<', html), "the menu counts open alerts"


def test_ward_refresh_returns_rows_only_and_keeps_filters(nurse_client, ward):
    response = nurse_client.get(reverse("ward"), {"q": "deep"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and 'id="ward-table"' in html
    assert "DEEP1" in html and "FEVER1" not in html
    assert 'hx-swap-oob="true"' in html  # the menu's alert count is refreshed with the rows
    page = nurse_client.get(reverse("ward"), {"q": "deep"}).content.decode()
    assert 'hx-get="/?q=deep" hx-trigger="every 30s"' in page
    assert "<script>" not in page, "no inline script (the CSP forbids it)"


def test_patient_page_lists_fn_first_with_next_step_phones_and_its_own_placeholder(nurse_client, ward):
    html = nurse_client.get(reverse("patient", args=[ward["fever"].pk])).content.decode()
    open_part = html.split('class="card alerts-open"')[1].split("</section>")[0]
    assert open_part.index('data-kind="febrile_neutropenia"') < open_part.index('data-kind="grade4_observed"')
    assert "give empirical antibiotics within 60 minutes" in open_part
    assert "07700 900002" in html and "01632 960100" in html and "Responsible nurse: " in html
    assert 'name="antibiotics_given_at"' in open_part  # asked only on the FN alert
    assert open_part.count('name="antibiotics_given_at"') == 1
    assert "Called patient, no fever" not in html
    assert "Temperature 38.6 °C at " in open_part


def test_acknowledging_fn_records_when_antibiotics_were_given(nurse_client, ward):
    fn = ward["fn"]
    given = timezone.localtime(timezone.now() - timedelta(minutes=5)).replace(second=0, microsecond=0)
    nurse_client.post(reverse("alert_acknowledge", args=[fn.pk]),
                      {"note": "Tazocin given", "antibiotics_given_at": given.strftime("%Y-%m-%dT%H:%M")})
    fn.refresh_from_db()
    assert fn.acknowledged_at is not None and fn.antibiotics_given_at == given


@pytest.mark.parametrize("value, reason", [
    ("tomorrow", "is not a date and time"),
    ("in-future", "in the future"),
])
def test_a_bad_antibiotic_time_saves_nothing(nurse_client, ward, value, reason):
    fn = ward["fn"]
    if value == "in-future":
        value = timezone.localtime(timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = nurse_client.post(reverse("alert_acknowledge", args=[fn.pk]),
                                 {"antibiotics_given_at": value, "next": "/alerts/"}, follow=True)
    fn.refresh_from_db()
    assert fn.acknowledged_at is None and fn.antibiotics_given_at is None
    assert reason in response.content.decode()


def test_alert_quality_counts_per_team_and_measures_time_to_antibiotic(nurse_client, nurse, ward):
    now = timezone.now()
    Alert.objects.filter(pk=ward["grade4"].pk).update(acknowledged_at=ward["grade4"].raised_at + timedelta(minutes=20),
                                                      acknowledged_by=nurse, escalated_at=now)
    fever_at = timezone.datetime.fromisoformat(ward["fn"].evidence["taken_at"])
    Alert.objects.filter(pk=ward["fn"].pk).update(acknowledged_at=now, acknowledged_by=nurse,
                                                  antibiotics_given_at=fever_at + timedelta(minutes=75))
    old = raise_alert(ward["deep"], ward["grade4"].cycle, Alert.Kind.NOT_READY, Alert.Severity.MEDIUM,
                      raised_at=now - timedelta(days=45))

    html = nurse_client.get(reverse("alert_quality")).content.decode()
    team_part = html.split('class="card quality"')[1]
    assert "THEIRS1" not in html
    assert '<dt>Alerts raised</dt><dd>3</dd>' in team_part  # the 45-day-old one is outside 30 days
    assert '<dt>Escalated</dt><dd>1</dd>' in team_part
    assert re.search(r'data-kind="febrile_neutropenia"><td>Febrile neutropenia suspected</td><td>1</td>'
                     r'<td>1 \(100\xa0%\)</td>', team_part)
    assert re.search(r'data-severity="Critical"><td>Critical</td><td>2</td><td>\d+ min</td>', team_part)
    assert "Median 75 min" in team_part and "within 60 min: 0 of 1" in team_part
    ninety = nurse_client.get(reverse("alert_quality"), {"days": "90"}).content.decode()
    assert '<dt>Alerts raised</dt><dd>4</dd>' in ninety and old.kind in ninety


def test_edit_patient_keeps_the_date_of_birth(nurse_client, team):
    patient = make_patient(team, mrn="DOB1", date_of_birth="1971-06-30")
    html = nurse_client.get(reverse("patient_edit", args=[patient.pk])).content.decode()
    assert 'type="date" name="date_of_birth" value="1971-06-30"' in html


def test_cycle_charts_are_by_day_of_cycle_with_today_and_readable_log_ticks(team, regimens):
    patient, _ = build_story_patient(team, regimens)
    now = timezone.now()
    page = selectors.patient_page(patient, now)
    current = charts.cycle_figure(page.current, now)
    notes = [a["text"] for a in current["layout"]["annotations"]]
    assert "Today, day 6" in notes
    assert {0.1, 0.2, 0.5, 1, 2, 5, 10} <= set(current["layout"]["meta"]["log_ticks"])
    assert current["layout"]["xaxis"]["tickformat"] == "d"  # whole days
    overlay = charts.overlay_figure(page, now)
    lines = [t["line"]["color"] for t in overlay["data"] if t.get("meta") == "overlay-counts"]
    assert len(lines) == 3 and len(set(lines)) == 3, "every cycle its own colour"
    assert overlay["layout"]["legend"]["y"] < 0, "the legend sits below the plot, not over it"

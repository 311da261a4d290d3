"""Issue 22, items 5, 6 and 10 on the server side: chart nadir labels that tell the truth, words
for people on the patient page and the ward, the favicon, a refused page without a traceback,
the admin's plural, and demo staff with people's names."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from monitoring import charts, selectors
from monitoring.models import User
from tests.conftest import make_patient, start_on_regimen
from tests.story import add_count, build_story_patient, raise_alert

pytestmark = pytest.mark.django_db


def nadir_labels(figure: dict) -> list[str]:
    return [a["text"] for a in figure["layout"]["annotations"] if a["text"].startswith("Observed nadir")]


def test_a_cycles_first_count_is_not_called_its_nadir(team, regimens):
    patient = make_patient(team, mrn="HIGH1")
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=3)
    add_count(patient, cycle.day1 + timedelta(hours=2), "5.78")  # day 1, the only count: its highest too
    page = selectors.patient_page(patient, timezone.now())
    assert page.current.observed_nadir is not None  # the lowest count so far ...
    assert nadir_labels(charts.cycle_figure(page.current)) == []  # ... is not labelled a nadir


def test_the_latest_count_may_still_fall_so_it_is_not_a_nadir_yet(team, regimens):
    patient = make_patient(team, mrn="FALL1")
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=9)
    add_count(patient, cycle.day1 + timedelta(hours=2), "5.1")
    add_count(patient, cycle.day1 + timedelta(days=7), "0.9")
    page = selectors.patient_page(patient, timezone.now())
    assert nadir_labels(charts.cycle_figure(page.current)) == []


def test_a_trough_with_counts_on_both_sides_is_labelled(team, regimens):
    page = selectors.patient_page(build_story_patient(team, regimens)[0], timezone.now())
    first = next(c for c in page.cycles if c.cycle.number == 1)
    assert nadir_labels(charts.cycle_figure(first)) == ["Observed nadir 0.4 (day 8)"]


def test_band_labels_and_the_threshold_label_sit_at_opposite_edges(team, regimens):
    page = selectors.patient_page(build_story_patient(team, regimens)[0], timezone.now())
    notes = charts.cycle_figure(page.current)["layout"]["annotations"]
    bands = [n for n in notes if n["text"].startswith("Grade ")]
    threshold = next(n for n in notes if n["text"].startswith("Next cycle"))
    assert len(bands) == 3 and all(n["x"] == 0 and n["xanchor"] == "left" for n in bands)
    assert threshold["x"] == 1 and threshold["xanchor"] == "right"


def test_the_overlay_has_no_grade_texts_to_pile_up(team, regimens):
    page = selectors.patient_page(build_story_patient(team, regimens)[0], timezone.now())
    overlay = charts.overlay_figure(page)
    assert all("text" not in trace["mode"] for trace in overlay["data"] if trace.get("meta") == "overlay-counts")


def test_patient_page_speaks_words_not_internals(client, nurse, team, regimens):
    patient, cycles = build_story_patient(team, regimens)
    raise_alert(patient, cycles[2], kind="gcsf_not_given", severity=2,
                evidence={"fn_risk": "high", "risk_factors": [], "due_by": timezone.now().isoformat(),
                          "secondary": False})
    raise_alert(patient, cycles[2], kind="febrile_neutropenia", severity=4,
                evidence={"anc_1e9_per_l": "0.3", "temperature_c": "38.6", "taken_at": timezone.now().isoformat(),
                          "fever_policy": "idsa"}, message="ANC 0.300 x10^9/L with 38.6 °C")
    client.force_login(nurse)
    html = client.get(patient.get_absolute_url()).content.decode()
    for internal in ("Secondary", "False", "Fever policy", "idsa", "Dose id", "Exception id", "x10^9/L",
                     "effective sample size", "Ready 100"):
        assert internal not in html, internal
    assert "ANC 0.300 ×10⁹/L with 38.6 °C" in html  # the full alert text, units as people write them
    assert "FN risk of the regimen: High (&gt; 20 %)" in html
    assert html.count('class="alert-item') == 3 and "2 more open alerts" in html  # the most urgent first
    assert "Oncologist review after febrile neutropenia" in html  # not "Ready 100 %" beside an FN alert


def test_ward_rows_say_readiness_in_words_and_keep_column_labels(client, nurse, team, regimens):
    build_story_patient(team, regimens)
    client.force_login(nurse)
    html = client.get(reverse("ward")).content.decode()
    assert "Ready 100" not in html and "Ready 0 %" not in html
    assert any(words in html for words in ("Likely ready", "Unlikely to be ready", "Uncertain ("))
    for label in ("Last ANC (×10⁹/L)", "Predicted nadir (×10⁹/L)", "Next cycle", "Risk"):
        assert f'data-label="{label}"' in html  # a phone card shows it above the value


def test_every_page_names_its_icon_so_no_favicon_404(client, admin_client):
    from django.contrib.staticfiles import finders

    assert finders.find("favicon.ico") and finders.find("favicon.svg")
    pages = [client.get(reverse("login")), admin_client.get(reverse("admin:index")), admin_client.get(reverse("ward"))]
    for html in (page.content.decode() for page in pages):
        assert '<link rel="icon" href="/static/favicon' in html


def test_a_refused_page_logs_one_line_without_a_traceback(client, nurse, team, regimens, caplog):
    patient = make_patient(team, mrn="REFUSE1")
    client.force_login(nurse)  # a nurse may not start a regimen
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(reverse("course_new", args=[patient.pk])).status_code == 403
    refused = [r for r in caplog.records if r.name == "django.request" and getattr(r, "status_code", None) == 403]
    assert refused and all(r.exc_info is None for r in refused)
    assert "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback():
    from neutrowatch.log_filters import RefusalWithoutTraceback

    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", (),
                                   sys.exc_info())
    record.status_code = 500
    assert RefusalWithoutTraceback().filter(record) and record.exc_info is not None


def test_admin_says_deliveries(admin_client):
    assert "Deliveries" in admin_client.get(reverse("admin:index")).content.decode()


def test_demo_staff_have_peoples_names(db):
    call_command("load_demo", password="demo-only-password", stdout=open("/dev/null", "w"))
    names = {u.username: u.get_full_name() for u in User.objects.filter(username__in=["nurse", "nurse2"])}
    assert names == {"nurse": "Nora Bennett", "nurse2": "Hana Kowalski"}


@pytest.mark.parametrize("url", ["patient", "import_exceptions"])
def test_no_table_column_is_unnamed(nurse_client, patient, regimens, url):
    # The column of "Correct", "Record given" or "Review" links had an empty header: a screen
    # reader read the links in a column with no name.
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=3)
    add_count(patient, timezone.now() - timedelta(hours=2), "3.1")
    html = nurse_client.get(reverse(url, args=[patient.pk] if url == "patient" else [])).content.decode()
    assert "<th" in html
    assert not re.findall(r"<th[^>]*>\s*</th>", html)

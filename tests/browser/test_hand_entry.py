"""Hand entry as received (issue 22), in a real Chromium: censored counts, echoed errors, G-CSF units,
and a refused acknowledgement that keeps what was typed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import clinical, records
from monitoring.models import Alert, CountResult, GcsfDose
from tests.browser.pages import SAVE, shot, sign_in
from tests.conftest import start_on_regimen
from tests.story import add_temperature

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def test_a_nurse_types_counts_as_the_lab_reports_them(live_server, browser_page, nurse, patient, regimens,
                                                       no_pending_tasks):
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    page = browser_page
    sign_in(page, live_server, nurse)

    page.goto(f"{live_server.url}/patients/{patient.pk}/counts/new/")
    assert page.get_attribute("#id_anc", "type") == "text"  # a number input would drop "<0.1" and "abc"
    page.fill("#id_anc", "abc")
    page.click(SAVE)
    page.wait_for_selector(".errorlist")
    assert "'abc' is not a number" in page.locator("main form").inner_text()
    assert page.input_value("#id_anc") == "abc"  # echoed back, not wiped
    shot(page, 1024, "22-count-abc-echoed")
    assert not CountResult.objects.exists()

    page.fill("#id_anc", "<0.1")
    page.click(SAVE)
    page.wait_for_url(f"{live_server.url}/patients/{patient.pk}/")
    count = CountResult.objects.get(patient=patient)
    assert (count.qualifier, count.anc_1e9_per_l, count.entered_value) == ("<", Decimal("0.100"), "<0.1")
    assert "<0.1" in page.locator(".patient-head").inner_text()  # the header keeps the censoring
    page.wait_for_selector("#first-chart .nw-chart.drawn")
    hover = page.evaluate("""() => document.querySelector('#first-chart .nw-chart').data
        .find(t => t.meta === 'counts').hovertext.join(' ')""")
    assert "ANC <0.1 x10" in hover  # and so does the chart

    page.goto(f"{live_server.url}/patients/{patient.pk}/counts/new/")
    page.fill("#id_collected_at", timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_anc", ">50")
    page.check("#id_confirm")  # 500 times the last count: held for confirmation otherwise
    page.click(SAVE)
    page.wait_for_url(f"{live_server.url}/patients/{patient.pk}/")
    assert CountResult.objects.filter(patient=patient, qualifier=">", anc_1e9_per_l=Decimal("50")).exists()


def test_the_gcsf_unit_follows_the_product(live_server, browser_page, nurse, patient, regimens, no_pending_tasks):
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=1)
    page = browser_page
    sign_in(page, live_server, nurse)

    page.goto(f"{live_server.url}/patients/{patient.pk}/gcsf/new/")
    page.fill("#id_product_name", "Neulasta")
    assert page.input_value("#id_dose_unit") == "mg"
    page.fill("#id_product_name", "filgrastim-sndz")
    assert page.input_value("#id_dose_unit") == "ug"
    page.fill("#id_product_name", "Neulasta")
    page.fill("#id_dose", "6")
    page.click(SAVE)
    page.wait_for_url(f"{live_server.url}/patients/{patient.pk}/")
    assert GcsfDose.objects.get(patient=patient).dose_unit == "mg"


def test_an_antibiotic_time_in_the_future_keeps_the_note(live_server, browser_page, nurse, patient, regimens,
                                                          no_pending_tasks):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=2), unit="10^9/L", anc=Decimal("0.3")))
    add_temperature(patient, timezone.now() - timedelta(minutes=30), "38.6")
    alert = Alert.objects.get(cycle=cycle, kind=Alert.Kind.FEBRILE_NEUTROPENIA, resolved_at=None)
    page = browser_page
    sign_in(page, live_server, nurse)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")

    note = "Blood cultures taken, piperacillin-tazobactam started"
    page.fill(f"#note-{alert.pk}", note)
    future = timezone.localtime(timezone.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    page.fill(f"#abx-{alert.pk}", future)
    page.click(f"form:has(#note-{alert.pk}) button[type=submit]")
    page.wait_for_selector(f"#ack-problem-{alert.pk}")

    assert "in the future" in page.locator(f"#ack-problem-{alert.pk}").inner_text()
    assert page.input_value(f"#note-{alert.pk}") == note
    assert page.input_value(f"#abx-{alert.pk}") == future
    shot(page, 1024, "22-ack-kept")
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_on_a_phone_a_refused_acknowledgement_and_record_antibiotic_time_show_the_fields(
        live_server, chromium, nurse, patient, regimens, no_pending_tasks):
    """A phone folds each alert's note and antibiotic time (static/js/menu.js) so the first screen
    holds the button; it folded them after a refusal too (what was typed hidden under the error),
    and "Record antibiotic time" on the ward led to an alert with the time field folded away."""
    from tests.browser.pages import new_page

    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=2), unit="10^9/L", anc=Decimal("0.3")))
    add_temperature(patient, timezone.now() - timedelta(minutes=30), "38.6")
    alert = Alert.objects.get(cycle=cycle, kind=Alert.Kind.FEBRILE_NEUTROPENIA, resolved_at=None)
    page = new_page(chromium, 390, 844)
    sign_in(page, live_server, nurse)
    page.click("#ward-table >> text=Record antibiotic time")
    page.wait_for_url(f"{live_server.url}/patients/{patient.pk}/#alert-{alert.pk}")
    assert page.locator(f"#abx-{alert.pk}").is_visible(), "the field the link promised is folded away"

    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    assert not page.locator(f"#abx-{alert.pk}").is_visible()  # folded on a phone, as designed
    page.click(f"form:has(#note-{alert.pk}) summary")
    page.fill(f"#note-{alert.pk}", "Cultures taken")
    page.fill(f"#abx-{alert.pk}", timezone.localtime(timezone.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    page.click(f"form:has(#note-{alert.pk}) button[type=submit]")
    page.wait_for_selector(f"#ack-problem-{alert.pk}")
    assert page.locator(f"#note-{alert.pk}").is_visible() and page.locator(f"#abx-{alert.pk}").is_visible()
    page.close()

"""Issue 21 in a real Chromium: a nurse acknowledges febrile neutropenia on the ward; it stays FN, in hand.

The ward keeps the patient first, in the FN group, with who acknowledged it and "antibiotics not
recorded [record]"; the nurse records the antibiotic time afterwards and the ward shows it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import clinical, records
from monitoring.models import Alert
from tests.browser.pages import shot, sign_in
from tests.conftest import make_patient, start_on_regimen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_acknowledged_fn_stays_first_on_the_ward_in_hand_until_antibiotics_are_recorded(
        live_server, browser_page, nurse, team, patient, regimens, no_pending_tasks):
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    other = make_patient(team, mrn="MRN002", given_name="Alan", family_name="Aardvark")
    start_on_regimen(other, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    for person, anc in ((other, "0.2"), (patient, "0.37")):
        records.record_count(person, clinical.parse_count(
            collected_at=timezone.now() - timedelta(hours=2), unit="10^9/L", anc=Decimal(anc)))
    records.record_temperature(patient, taken_at=timezone.now() - timedelta(minutes=20),
                               temperature_c=Decimal("38.6"), entered_value="38.6", entered_unit="C")
    fn = Alert.objects.get(patient=patient, kind=Alert.Kind.FEBRILE_NEUTROPENIA)
    page = browser_page
    sign_in(page, live_server, nurse, start="/")
    first_row = page.locator("#ward-table tbody tr").first
    assert first_row.get_attribute("data-patient") == str(patient.pk)

    first_row.locator("button.ack-one").click()
    page.wait_for_selector(f"[data-in-hand='{fn.pk}']")

    first_row = page.locator("#ward-table tbody tr").first
    assert first_row.get_attribute("data-patient") == str(patient.pk)
    assert "row-fn" in first_row.get_attribute("class")
    text = first_row.inner_text()
    assert "Febrile neutropenia suspected" in text and "In hand" in text
    assert "antibiotics not recorded" in text and "[record]" in text
    shot(page, 1024, "21-fn-in-hand")

    first_row.locator("text=[record]").click()
    page.wait_for_selector(f"#alert-{fn.pk} form.abx-form")
    given = timezone.localtime(fn.raised_at + timedelta(minutes=1))
    page.fill(f"#abx-late-{fn.pk}", given.strftime("%Y-%m-%dT%H:%M"))
    page.click(f"#alert-{fn.pk} form.abx-form button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/")
    first_row = page.locator("#ward-table tbody tr").first
    assert first_row.get_attribute("data-patient") == str(patient.pk)
    assert f"antibiotics {given:%H:%M}" in first_row.inner_text()
    shot(page, 1024, "21-fn-antibiotics-recorded")

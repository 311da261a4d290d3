"""Issue 11 in a real Chromium: a nurse tries to record a cycle as given while a critical alert is open."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import clinical, records
from monitoring.models import Alert, Cycle
from tests.browser.pages import shot, sign_in
from tests.conftest import start_on_regimen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_nurse_sees_why_and_the_override_reason_reaches_the_history(
        live_server, browser_page, nurse, patient, regimens, no_pending_tasks):
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=21)
    cycle2 = cycle1.course.cycles.get(number=2)
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=3), unit="10^9/L", anc=Decimal("0.3")))
    assert Alert.objects.filter(patient=patient, severity=Alert.Severity.CRITICAL, resolved_at=None).exists()
    page = browser_page

    sign_in(page, live_server, nurse, start="/")
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.click(f"a[href='/cycles/{cycle2.pk}/give/']")
    concerns = page.locator("#concerns")
    assert "A critical alert is open: Grade 4 neutropenia observed" in concerns.inner_text()
    give_form = "form:has(textarea[name=override_reason])"
    page.click(f"{give_form} button[type=submit]")  # try to save without a reason
    page.wait_for_selector(".errorlist")
    assert "Give a reason to record this cycle as given" in page.locator(give_form).inner_text()
    shot(page, 1024, "6-record-given-held")
    cycle2.refresh_from_db()
    assert cycle2.status == Cycle.Status.PLANNED

    page.fill("textarea[name=override_reason]", "Discussed with Dr Shah: give with G-CSF, neutropenia explained")
    page.click(f"{give_form} button[type=submit]")
    page.wait_for_url(f"{live_server.url}/patients/{patient.pk}/")
    cycle2.refresh_from_db()
    assert cycle2.status == Cycle.Status.GIVEN

    page.goto(f"{live_server.url}/patients/{patient.pk}/history/")
    changes = page.locator("#changes").inner_text()
    assert "Discussed with Dr Shah: give with G-CSF, neutropenia explained" in changes
    assert nurse.get_full_name() in changes or nurse.username.title() in changes
    shot(page, 1024, "7-history-override-reason")

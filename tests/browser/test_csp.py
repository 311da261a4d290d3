"""The Content-Security-Policy in a real Chromium: the patient page's charts draw, and nothing is blocked."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.integration.web.test_dashboard import build_story_patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_charts_draw_under_the_policy_with_no_violation(live_server, chromium, nurse, team, regimens,
                                                        no_pending_tasks):
    patient, cycles = build_story_patient(team, regimens)
    # Tall enough that every chart not folded away is on the first screen and drawn at once.
    page = chromium.new_page(viewport={"width": 1366, "height": 3000})
    page.set_default_timeout(15_000)
    violations, errors = [], []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", nurse.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#ward-table")
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.wait_for_selector("body[data-charts-ready='1']")
    assert page.locator(f"#chart-fig-cycle-{cycles[2].pk} .scatterlayer .trace").count() >= 5
    page.click("#log-toggle")
    page.goto(f"{live_server.url}/alerts/")
    assert violations == [] and errors == []

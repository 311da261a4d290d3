"""The Content-Security-Policy in a real Chromium: the patient page's charts draw, and nothing is blocked."""

from __future__ import annotations

import pytest

from tests.browser.pages import new_page, sign_in
from tests.story import build_story_patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_charts_draw_under_the_policy_with_no_violation(live_server, chromium, nurse, team, regimens,
                                                        no_pending_tasks):
    patient, cycles = build_story_patient(team, regimens)
    # Tall enough that every chart not folded away is on the first screen and drawn at once.
    page = new_page(chromium, 1366, 3000, timeout_ms=15_000)
    violations, errors = [], []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live_server, nurse)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.wait_for_selector("body[data-charts-ready='1']")
    assert page.locator(f"#chart-fig-cycle-{cycles[2].pk} .scatterlayer .trace").count() >= 5
    page.click("#log-toggle")
    page.goto(f"{live_server.url}/alerts/")
    assert violations == [] and errors == []


def test_go_back_on_a_refusal_goes_back_with_no_violation(live_server, chromium, nurse, patient):
    """The 403 page's "Go back" was a javascript: link, which the policy blocks: it did nothing."""
    page = new_page(chromium, 1366, 900)
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    sign_in(page, live_server, nurse)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.goto(f"{live_server.url}/patients/{patient.pk}/courses/new/")
    assert page.locator("h1").inner_text() == "You cannot use this page"
    page.click("text=Go back")
    page.wait_for_url(f"{live_server.url}/patients/{patient.pk}/")
    assert violations == []


def test_no_chart_offers_to_upload_the_patient_to_plotly_cloud(live_server, chromium, nurse, team, regimens,
                                                               no_pending_tasks):
    """Plotly 4 shows "Share chart..." by default: one click opens cloud.plotly.com and sends it the
    chart's data (the patient's counts and dates); the policy cannot stop a window.open."""
    patient, _ = build_story_patient(team, regimens)
    page = new_page(chromium, 1366, 3000, timeout_ms=15_000)
    sign_in(page, live_server, nurse)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.wait_for_selector("body[data-charts-ready='1']")
    buttons = page.evaluate(
        "() => [...document.querySelectorAll('.nw-chart.drawn .modebar-btn')].map(b => b.dataset.title)")
    assert "Download plot as a PNG" in buttons  # the modebar is there ...
    assert not [title for title in buttons if "Share" in title or "Cloud" in title]  # ... without a way off-site

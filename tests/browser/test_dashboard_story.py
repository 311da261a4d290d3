"""The nurse's story in a real Chromium: ward -> patient charts -> log scale -> acknowledge an alert.

Screenshots of every page go to test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitoring.models import Alert
from tests.conftest import PASSWORD, REPO, make_patient, start_on_regimen
from tests.integration.test_dashboard import add_count, build_story_patient, raise_alert

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(monkeypatch):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Browser tests need Chromium at {CHROMIUM}: run `make chromium` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls the test
    # makes meanwhile are ordinary synchronous ones, which Django refuses unless told.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1024, "height": 768})  # the ward tablet
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def no_pending_tasks():
    """The write paths enqueue recomputes on commit; no worker runs here, so clear them afterwards."""
    yield
    from tests.conftest import _purge_queue

    _purge_queue()


def shot(page, name: str) -> None:
    page.screenshot(path=str(Path(SCREENSHOTS, f"{name}.png")), full_page=True)


def test_nurse_walks_ward_patient_charts_and_alert_inbox(live_server, browser_page, nurse, team, other_team,
                                                         regimens, no_pending_tasks):
    from datetime import timedelta

    from django.utils import timezone

    patient, cycles = build_story_patient(team, regimens)
    alert = raise_alert(patient, cycles[2], Alert.Kind.GRADE4_PREDICTED, Alert.Severity.CRITICAL,
                        message="Grade 4 neutropenia predicted around day 8", evidence={"p_grade4": 0.71})
    calm = make_patient(team, mrn="CALM1", family_name="Calm", given_name="Carl")
    start_on_regimen(calm, regimens["DOCETAXEL-75-Q3W"], days_ago=3)
    add_count(calm, timezone.now() - timedelta(days=1), "4.2")
    make_patient(other_team, mrn="OTHER1", family_name="Elsewhere")
    page = browser_page
    requests, errors = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))

    # Log in through the real form; the ward is the page after login.
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", nurse.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#ward-table")
    shot(page, "1-ward")
    mrns = page.locator("#ward-table tbody tr .small.muted").all_inner_texts()
    assert [text.split(" ")[1] for text in mrns if text.startswith("MRN")] == ["STORY1", "CALM1"], (
        "the patient with a critical alert comes first; another team's patient is not shown"
    )
    assert page.locator("tr[data-patient] .risk").first.inner_text() == "High"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024, "the ward must fit a 1024 px tablet"

    # Open the patient: the current cycle's chart holds counts, the forecast and G-CSF.
    page.click(f"a.patient-link[href='/patients/{patient.pk}/']")
    page.wait_for_selector("body[data-charts-ready='1']")
    chart = f"#chart-fig-cycle-{cycles[2].pk}"
    kinds = page.evaluate(f"document.querySelector('{chart}').data.map(t => t.meta)")
    assert {"counts", "forecast", "forecast-band", "gcsf", "chemo"} <= set(kinds), kinds
    assert page.locator(f"{chart} .scatterlayer .trace").count() >= 5, "plotly drew the traces"
    assert page.evaluate("document.querySelectorAll('.nw-chart.drawn').length") >= 3  # cycle, timeline, overlay
    shot(page, "2-patient")

    # Log scale for every drawn chart, and back.
    page.click("#log-toggle")
    page.wait_for_function(f"document.querySelector('{chart}').layout.yaxis.type === 'log'")
    assert page.evaluate("document.querySelector('#chart-overlay').layout.yaxis.type") == "log"
    assert page.get_attribute("#log-toggle", "aria-pressed") == "true"
    shot(page, "3-patient-log-scale")
    # An earlier cycle drawn after the toggle opens in log scale too.
    page.click(f"#chart-fig-cycle-{cycles[0].pk} >> xpath=.. >> summary")
    page.wait_for_function(f"document.querySelector('#chart-fig-cycle-{cycles[0].pk}').layout?.yaxis.type === 'log'")

    # Acknowledge the alert in the inbox; it leaves the open list for the history.
    page.click("nav >> text=Alerts")
    open_alert = page.locator(f"#open-alerts [data-alert='{alert.pk}']")
    assert open_alert.is_visible()
    assert "Grade 4 neutropenia predicted around day 8" in open_alert.inner_text()
    shot(page, "4-alerts")
    open_alert.locator("textarea").fill("Phoned patient, afebrile; FBC booked for day 8")
    open_alert.locator("button[type=submit]").click()
    page.wait_for_selector(".messages")
    assert page.locator(f"#open-alerts [data-alert='{alert.pk}']").count() == 0
    history = page.locator(f"#alert-history [data-alert='{alert.pk}']")
    assert "Phoned patient, afebrile" in history.inner_text()
    shot(page, "5-alerts-acknowledged")
    alert.refresh_from_db()
    assert alert.acknowledged_by == nurse

    outside = [url for url in requests if not url.startswith(live_server.url)]
    assert outside == [], f"pages loaded something from outside the app: {outside}"
    assert errors == [], f"JavaScript errors: {errors}"

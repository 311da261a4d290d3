"""The nurse's morning in a real Chromium, at 1366, 1024 and 390 px wide.

Ward (febrile neutropenia named first, acknowledge another alert in one click) -> patient page
(no sideways scroll, charts by day of cycle, log scale, acknowledge the FN alert with the time
antibiotics were given) -> alert inbox -> edit patient (the date of birth is kept) -> alert
quality. axe-core (vendored) checks every page for serious or critical WCAG A/AA violations.
Screenshots of every step go to test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from monitoring.models import Alert
from monitoring.selectors import open_alert_count
from tests.browser.conftest import SCREENSHOTS
from tests.browser.pages import new_page, serious_axe_violations, shot, sign_in, wait_for_js, wider_than_screen
from tests.conftest import make_patient, start_on_regimen
from tests.story import add_count, build_story_patient, raise_alert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1366, 1024, 390])
def test_the_nurses_morning(width, live_server, chromium, nurse, team, other_team, regimens, no_pending_tasks):
    now = timezone.now()
    patient, cycles = build_story_patient(team, regimens)
    patient.phone = "07700 900123"
    patient.responsible_nurse = nurse
    patient.date_of_birth = "1971-06-30"
    patient.save()
    team.on_call_phone = "01632 960100"
    team.save()
    predicted = raise_alert(patient, cycles[2], Alert.Kind.GRADE4_PREDICTED, Alert.Severity.HIGH,
                            message="Grade 4 neutropenia predicted", raised_at=now - timedelta(hours=3),
                            evidence={"p_grade4": 0.71, "threshold": 0.5, "nadir_anc_1e9_per_l": 0.3,
                                      "nadir_interval80": [0.1, 0.6],
                                      "nadir_at": (now + timedelta(days=2)).isoformat()})
    fever_at = (now - timedelta(minutes=50)).replace(second=0, microsecond=0)
    fn = raise_alert(patient, cycles[2], Alert.Kind.FEBRILE_NEUTROPENIA, Alert.Severity.CRITICAL,
                     message="Febrile neutropenia suspected", raised_at=now - timedelta(minutes=45),
                     evidence={"temperature_c": "38.6", "taken_at": fever_at.isoformat(),
                               "predicted_lo80_1e9_per_l": 0.42,
                               "predicted_at": (now + timedelta(hours=30)).isoformat()})
    # Another patient with a critical alert raised earlier: febrile neutropenia still comes first.
    deep = make_patient(team, mrn="DEEP1", family_name="Deep", given_name="Dora")
    deep_cycle = start_on_regimen(deep, regimens["DOCETAXEL-75-Q3W"], days_ago=9)
    add_count(deep, now - timedelta(hours=30), "0.9")
    add_count(deep, now - timedelta(minutes=50), "0.3")
    grade4 = raise_alert(deep, deep_cycle, Alert.Kind.GRADE4_OBSERVED, Alert.Severity.CRITICAL,
                         raised_at=now - timedelta(hours=2),
                         evidence={"count_id": 10, "anc_1e9_per_l": "0.3", "ctcae_grade": 4,
                                   "collected_at": (now - timedelta(minutes=50)).isoformat()})
    calm = make_patient(team, mrn="CALM1", family_name="Calm", given_name="Carl")
    start_on_regimen(calm, regimens["DOCETAXEL-75-Q3W"], days_ago=3)
    add_count(calm, now - timedelta(days=1), "4.2")
    make_patient(other_team, mrn="OTHER1", family_name="Elsewhere")

    page = new_page(chromium, width, 844 if width == 390 else 768)
    requests, errors = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = live_server.url

    # Log in through the real form; the ward is the page after login.
    page.goto(f"{base}/")
    assert "/accounts/login/" in page.url
    sign_in(page, live_server, nurse, start=None)

    # The skip link is the first tab stop and leads to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # 1. The ward names the febrile-neutropenia alert first, in words, and counts open alerts in the menu.
    rows = page.locator("#ward-table tbody tr[data-patient]")
    assert rows.count() == 3, "another team's patient is not shown"
    first = rows.nth(0)
    assert first.get_attribute("data-patient") == str(patient.pk)
    assert "Febrile neutropenia suspected - start FN pathway" in first.locator(".c-alert").inner_text()
    assert rows.nth(1).get_attribute("data-patient") == str(deep.pk)
    assert "↓" in rows.nth(1).locator(".c-anc").inner_text(), "a falling ANC shows a trend arrow"
    assert "50 min ago" in rows.nth(1).locator(".c-anc").inner_text()
    open_before = open_alert_count(nurse)  # the story's alerts and those the save-time rules raised
    assert page.locator("#nav-alert-count").inner_text().split()[0] == str(open_before)
    assert wider_than_screen(page) == [], f"the ward scrolls sideways at {width} px"
    if width == 390:
        anc_box = first.locator(".c-anc").bounding_box()
        assert anc_box["y"] + anc_box["height"] <= 844, "the first screen shows the first patient's ANC"
    shot(page, width, "1-ward")
    assert serious_axe_violations(page, base) == []

    # 2. Acknowledge Deep's grade-4 alert from the ward in one click; the filters-free ward comes back.
    rows.nth(1).locator("button.ack-one").click()
    page.wait_for_selector(".messages")
    grade4.refresh_from_db()
    assert grade4.acknowledged_by == nurse
    assert page.locator("#nav-alert-count").inner_text().split()[0] == str(open_before - 1)
    shot(page, width, "2-ward-acknowledged")

    # 3. The patient page: FN alert first with its next step and phones; charts by day of cycle.
    page.click(f"a.patient-link[href='/patients/{patient.pk}/']")
    page.wait_for_selector("body[data-charts-ready='1']")
    alerts = page.locator(".alerts-open .alert-item")
    assert alerts.nth(0).get_attribute("data-kind") == "febrile_neutropenia"
    fn_text = alerts.nth(0).inner_text()
    assert "antibiotics within 60 minutes" in fn_text
    head_text = page.locator(".patient-head").inner_text()  # the phones once, in the header above the alert
    assert "07700 900123" in head_text and "01632 960100" in head_text
    assert "Temperature 38.6 °C at " in fn_text and "T" + fever_at.isoformat()[11:16] not in fn_text
    assert "Count id" not in page.content()
    # Then what lasts before what has cleared (issue 21): this cycle's predicted grade 4 before cycle
    # 1's grade 4, which recovered (it stays until acknowledged, saying it cleared).
    kinds_shown = [alerts.nth(i).get_attribute("data-kind") for i in range(alerts.count())]
    assert kinds_shown.index("grade4_predicted") < kinds_shown.index("grade4_observed"), kinds_shown
    assert wider_than_screen(page) == [], f"the patient page scrolls sideways at {width} px"
    chart = f"#chart-fig-cycle-{cycles[2].pk}"
    page.locator(chart).scroll_into_view_if_needed()  # off-screen charts are drawn when shown
    page.wait_for_selector(f"{chart}.drawn")
    assert page.evaluate(f"document.querySelector('{chart}').layout.xaxis.title.text").startswith("Day of cycle")
    ticks = page.locator(f"{chart} .xtick text").all_text_contents()
    assert ticks and all(t.strip().lstrip("−-").isdigit() for t in ticks), f"whole days on the x axis: {ticks}"
    kinds = page.evaluate(f"document.querySelector('{chart}').data.map(t => t.meta)")
    assert {"counts", "forecast", "forecast-band", "gcsf", "chemo"} <= set(kinds), kinds
    assert "Today, day 6" in page.evaluate(
        f"document.querySelector('{chart}').layout.annotations.map(a => a.text).join('|')")
    page.locator(chart).screenshot(path=str(Path(SCREENSHOTS, f"{width}-3a-current-cycle-chart.png")))
    # The overlay is drawn when scrolled to (charts off-screen wait), by day of cycle too.
    page.locator("#chart-overlay").scroll_into_view_if_needed()
    page.wait_for_selector("#chart-overlay.drawn")
    assert page.evaluate("document.querySelector('#chart-overlay').layout.xaxis.title.text").startswith("Day of cycle")
    page.locator("#chart-overlay").screenshot(path=str(Path(SCREENSHOTS, f"{width}-3b-overlay-chart.png")))
    page.locator("#chart-timeline").scroll_into_view_if_needed()
    page.wait_for_selector("#chart-timeline.drawn")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, width, "3-patient")
    assert serious_axe_violations(page, base) == []

    # Log scale: ticks read 0.1, 0.2, 0.5, 1 ... (not "5" and "2").
    page.click("#log-toggle")
    wait_for_js(page, f"document.querySelector('{chart}').layout.yaxis.type === 'log'")
    labels = page.locator(f"{chart} .ytick text").all_text_contents()
    assert {"0.2", "0.5", "1", "2"} <= set(labels), labels
    page.locator(chart).screenshot(path=str(Path(SCREENSHOTS, f"{width}-4a-current-cycle-chart-log.png")))

    # 4. Acknowledge the FN alert with the time antibiotics were given (time to antibiotics).
    given = timezone.localtime(fever_at + timedelta(minutes=40))
    fields = alerts.nth(0).locator("details.ack-fields")
    if fields.get_attribute("open") is None:  # folded on a phone: the nurse opens it
        fields.locator("summary").click()
    alerts.nth(0).locator("input[name=antibiotics_given_at]").fill(given.strftime("%Y-%m-%dT%H:%M"))
    alerts.nth(0).locator("textarea").fill("Cultures taken, piperacillin-tazobactam given")
    alerts.nth(0).locator("button[type=submit]").click()
    page.wait_for_selector(".messages")
    fn.refresh_from_db()
    assert fn.acknowledged_by == nurse
    assert fn.antibiotics_given_at == given.replace(second=0, microsecond=0)

    # 5. The inbox: the remaining alert, in words.
    page.goto(f"{base}/alerts/")
    item = page.locator(f"#open-alerts [data-alert='{predicted.pk}']")
    assert "P(grade 4) 71 % (alert from 50 %)" in item.inner_text()
    shot(page, width, "5-alerts")
    assert serious_axe_violations(page, base) == []

    # 6. Edit patient keeps the date of birth, and saving unchanged works.
    page.goto(f"{base}/patients/{patient.pk}/edit/")
    assert page.input_value("input[name=date_of_birth]") == "1971-06-30"
    shot(page, width, "6-edit-patient")
    assert serious_axe_violations(page, base) == []
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/patients/{patient.pk}/")
    patient.refresh_from_db()
    assert str(patient.date_of_birth) == "1971-06-30"

    # 7. Alert quality: the FN alert's time to antibiotics against the 60-minute target.
    page.goto(f"{base}/alerts/quality/")
    quality = page.locator(f".quality[data-team='{team.pk}']")
    assert "Median 40 min" in quality.locator(".fn-antibiotics").inner_text()
    assert wider_than_screen(page) == []
    shot(page, width, "7-alert-quality")
    assert serious_axe_violations(page, base) == []

    outside = [url for url in requests if not url.startswith(base)]
    assert outside == [], f"pages loaded something from outside the app: {outside}"
    assert errors == [], f"JavaScript errors: {errors}"
    page.close()


def test_the_ward_refreshes_itself_keeping_filters_and_scroll(live_server, chromium, nurse, team, regimens,
                                                               settings, no_pending_tasks):
    settings.WARD_REFRESH_SECONDS = 1  # 30 s in use; the live server runs in this process
    now = timezone.now()
    cycles = []
    for i in range(30):
        patient = make_patient(team, mrn=f"W{i:02d}", family_name=f"Ward{i:02d}")
        cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
        add_count(patient, now - timedelta(hours=3), "2.0")
        raise_alert(patient, cycle, Alert.Kind.NADIR_UNMONITORED, Alert.Severity.LOW, raised_at=now)
        cycles.append((patient, cycle))
    make_patient(team, mrn="NOALERT1", family_name="Quiet")
    page = new_page(chromium, 1024, 600)
    sign_in(page, live_server, nurse, start="/accounts/login/?next=/%3Falerts%3D1")
    assert page.locator("input[name=alerts]").is_checked()
    page.evaluate("window.scrollTo(0, 900)")
    wait_for_js(page, "window.scrollY > 800")
    scrolled = page.evaluate("window.scrollY")

    # A fever arrives for the last patient: within a refresh, FN is named first without a reload.
    last, last_cycle = cycles[-1]
    raise_alert(last, last_cycle, Alert.Kind.FEBRILE_NEUTROPENIA, Alert.Severity.CRITICAL, raised_at=now)
    wait_for_js(page,
        "document.querySelector('#ward-table tbody tr').textContent.includes('Febrile neutropenia suspected')")
    first = page.locator("#ward-table tbody tr").first
    assert first.get_attribute("data-patient") == str(last.pk)
    assert page.evaluate("window.scrollY") == scrolled, "the refresh keeps the scroll position"
    assert page.locator("input[name=alerts]").is_checked() and "NOALERT1" not in page.content()
    assert page.locator("#nav-alert-count").inner_text().split()[0] == str(open_alert_count(nurse))
    shot(page, 1024, "8-ward-refreshed")

    # The session ends: the next refresh shows the login page as a page, not inside the rows.
    page.context.clear_cookies()
    page.wait_for_url("**/accounts/login/**")
    assert page.locator("#ward-live").count() == 0 and page.locator("input[name=password]").is_visible()
    page.close()

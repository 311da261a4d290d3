"""Issue 22, items 4 and 5 in a real Chromium on the demo: every page at every width, as every role.

- No page scrolls sideways at 1366, 1024, 768 or 390 px, for the nurse, the oncologist and the
  administrator (every page they reach by following links; each demo patient's page).
- On a phone the ward's cards keep their column labels, and the menu folds behind "Menu" with the
  user's name still in sight.
- The patient page's first screen (1366 x 900 and 390 x 844) holds the header, the most urgent
  alert (the others folded as "N more") and the current cycle's chart, drawn without scrolling.
- No two chart labels overlap, on any demo patient's charts (their bounding boxes are compared).
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from monitoring.models import Patient
from tests.browser.conftest import SCREENSHOTS
from tests.browser.pages import OVERLAPS, new_page, sign_in, wait_for_js, wider_than_screen

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO_PASSWORD = "demo-only-password-for-tests"
WIDTHS = (1366, 1024, 768, 390)
# Links not to follow: they log out, download, change state on GET-less forms, or leave the app.
SKIP = re.compile(r"/accounts/logout|\.csv$|/api/|/admin/.*(logout|delete|password|history)|^mailto:|^tel:")
PER_PATTERN = 2  # two count-correction forms are enough; every patient page is visited


@pytest.fixture
def demo(regimens):  # regimens: a transactional test flushes the seeded ones
    with open("/dev/null", "w") as quiet:
        call_command("load_demo", password=DEMO_PASSWORD, stdout=quiet)


def pattern(path: str) -> str:
    return re.sub(r"/\d+/", "/N/", path)


def app_links(page) -> list[str]:
    hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
    paths = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path.startswith("/") or SKIP.search(parts.path):
            continue
        paths.append(parts.path + (f"?{parts.query}" if parts.query and "page=" not in parts.query else ""))
    return paths


def walk(page, base: str, start: list[str], admin: bool) -> list[str]:
    """Visit every page reachable from `start`; return the paths that were 200 (each checked at every width)."""
    seen, per, queue, problems = set(), {}, deque(start), []
    while queue and len(seen) < 150:
        path = queue.popleft()
        key = pattern(path)
        if path in seen or (key != "/patients/N/" and per.get(key, 0) >= PER_PATTERN):
            continue
        if path.startswith("/admin/") and not admin:
            continue
        seen.add(path)
        per[key] = per.get(key, 0) + 1
        answer = page.goto(f"{base}{path}")
        if answer is None or answer.status != 200:
            continue
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            wide = wider_than_screen(page)
            if wide:
                problems.append(f"{path} at {width} px: {wide}")
        page.set_viewport_size({"width": 1366, "height": 900})
        queue.extend(link for link in app_links(page) if link not in seen)
    assert not problems, "pages that scroll sideways:\n" + "\n".join(problems)
    return sorted(seen)


@pytest.mark.parametrize("username", ["nurse", "oncologist", "admin"])
def test_no_page_scrolls_sideways_at_any_width(username, demo, live_server, chromium):
    page = new_page(chromium, 1366, 900)
    sign_in(page, live_server, username, password=DEMO_PASSWORD, wait_for=None)
    start = ["/", "/alerts/", "/import/", "/import/exceptions/", "/patients/new/", "/alert-quality/"]
    if username == "admin":
        start += ["/admin/", "/admin/monitoring/patient/", "/admin/monitoring/delivery/"]
    visited = walk(page, live_server.url, start, admin=username == "admin")
    patients = {f"/patients/{pk}/" for pk in Patient.objects.filter(active=True).values_list("pk", flat=True)}
    reached = {p for p in visited if re.fullmatch(r"/patients/\d+/", p)}
    assert reached and reached <= patients
    assert {"/patients/N/edit/", "/patients/N/history/", "/patients/N/counts/new/"} <= {pattern(p) for p in visited}
    if username != "nurse":
        assert "/patients/N/courses/new/" in {pattern(p) for p in visited}
    page.close()


def test_on_a_phone_ward_cards_keep_labels_and_the_menu_folds(demo, live_server, chromium):
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    sign_in(page, live_server, "nurse", password=DEMO_PASSWORD, wait_for=None)
    page.wait_for_selector("#ward-table")
    labels = page.evaluate("""() => [...document.querySelectorAll('#ward-table tbody tr[data-patient]')].map(row =>
        ['.c-anc', '.c-nadir', '.c-next', '.c-risk'].map(cell => {
            const td = row.querySelector(cell);
            return getComputedStyle(td, '::before').content.replace(/"/g, '');
        }))""")
    assert labels and all(row[:2] == ["Last ANC (×10⁹/L)", "Predicted nadir (×10⁹/L)"] for row in labels)
    assert all(row[2:] == ["Next cycle", "Risk"] for row in labels)
    page.screenshot(path=str(Path(SCREENSHOTS, "390-ward-cards.png")))

    nav = page.locator("#main-nav")
    assert not nav.is_visible(), "the menu is folded on a phone"
    assert page.locator(".who-short").inner_text() == "Nora Bennett", "the user's name stays in sight"
    assert page.locator(".topbar").bounding_box()["height"] < 70
    page.click(".menu-toggle")
    assert nav.is_visible() and page.locator(".menu-toggle").get_attribute("aria-expanded") == "true"
    page.click("#main-nav >> text=Alerts")
    assert page.url.endswith("/alerts/")
    page.set_viewport_size({"width": 1366, "height": 900})
    assert page.locator("#main-nav").is_visible() and not page.locator(".menu-toggle").is_visible()
    page.close()


@pytest.mark.parametrize(("width", "height", "chart_shown_px"), [(1366, 900, 200), (390, 844, 100)])
def test_the_first_screen_of_the_febrile_neutropenia_patient(width, height, chart_shown_px, demo, live_server,
                                                             chromium):
    patient = Patient.objects.get(mrn="DEMO-0001")  # the demo's febrile-neutropenia patient, 5 open alerts
    # A running deployment: beat and every worker alive, so no "background stopped" banner (its own tests
    # are in tests/integration/ops/); the first screen is measured as a nurse sees it on a normal day.
    from monitoring import health

    for component in health.expected_components():
        health.record_heartbeat(component)
    page = new_page(chromium, width, height)
    sign_in(page, live_server, "nurse", password=DEMO_PASSWORD, wait_for=None)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    wait_for_js(page, "document.body.dataset.chartsReady === '1'")
    page.screenshot(path=str(Path(SCREENSHOTS, f"{width}-first-screen.png")))
    screen = page.evaluate("""() => {
        const box = sel => document.querySelector(sel).getBoundingClientRect();
        const alerts = [...document.querySelectorAll('.alerts-open .alert-item')];
        return {scrollY: window.scrollY, head: box('.patient-head').top, name: box('.patient-head h1').bottom,
                alertTop: box('.alerts-open .alert-item').top, alertTitle: box('.alerts-open .alert-title').bottom,
                ack: box('.alerts-open .alert-item form.ack button').bottom,
                visibleAlerts: alerts.filter(a => a.checkVisibility()).length,
                allAlerts: alerts.length, more: document.querySelector('#more-alerts summary').textContent,
                chartTop: box('.nw-chart').top, drawn: document.querySelector('.nw-chart').classList.contains('drawn')};
    }""")
    assert screen["scrollY"] == 0 and screen["head"] < 140 and screen["name"] < height
    assert screen["visibleAlerts"] == 1 and screen["allAlerts"] == 5
    assert screen["more"].startswith("4 more open alerts")
    assert "Febrile neutropenia" in page.locator(".alerts-open .alert-item").first.inner_text()
    assert screen["alertTitle"] < height and screen["ack"] < height, "the most urgent alert, with its button"
    assert screen["drawn"], "the current cycle's chart is drawn without scrolling"
    assert screen["chartTop"] <= height - chart_shown_px, f"chart starts at {screen['chartTop']:.0f} px"
    page.close()




@pytest.mark.parametrize("width", [1366, 390])
def test_chart_labels_never_overlap_on_any_demo_patient(width, demo, live_server, chromium):
    page = new_page(chromium, width, 900)
    sign_in(page, live_server, "oncologist", password=DEMO_PASSWORD, wait_for=None)  # both teams: every demo patient
    overlaps, charts_checked = [], 0
    for patient in Patient.objects.order_by("pk"):
        page.goto(f"{live_server.url}/patients/{patient.pk}/")
        # Draw every chart: open the earlier cycles and bring each chart on screen.
        page.evaluate("document.querySelectorAll('details.earlier-cycle').forEach(d => d.open = true)")
        for chart in page.locator(".nw-chart").all():
            chart.scroll_into_view_if_needed()
        wait_for_js(page, """[...document.querySelectorAll('.nw-chart')].every(el =>
            el.classList.contains('drawn') && el.dataset.labelsClear === '1')""")
        charts_checked += page.locator(".nw-chart.drawn").count()
        overlaps += [f"patient {patient.mrn}: {o}" for o in page.evaluate(OVERLAPS)]
    assert charts_checked > 40
    assert not overlaps, "\n".join(overlaps)
    page.close()

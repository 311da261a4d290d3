"""Tables wider than a phone scroll sideways in their own box; a keyboard must be able to scroll them too."""

from __future__ import annotations

import pytest

from tests.browser.pages import new_page, serious_axe_violations, sign_in, wait_for_js
from tests.integration.triage.symptoms import load_triage_table

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("path", ["/forecasts/calibration/", "/import/exceptions/"])
def test_a_table_wider_than_a_phone_can_be_scrolled_from_the_keyboard(path, live_server, chromium, nurse):
    page = new_page(chromium, 390, 844)
    sign_in(page, live_server, nurse)
    page.goto(f"{live_server.url}{path}")
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("el => el.scrollWidth > el.clientWidth"), "the table is wider than the phone"
    assert serious_axe_violations(page, live_server.url) == []
    wrap.focus()
    page.keyboard.press("ArrowRight")
    wait_for_js(page, "document.querySelector('.table-wrap').scrollLeft > 0")
    page.close()


def test_the_triage_table_fits_a_phone_with_every_grade_in_sight(live_server, chromium, nurse, patient):
    """At 390 px the Red column (the answer that sends the patient in) was off to the right."""
    load_triage_table()
    page = new_page(chromium, 390, 844)
    sign_in(page, live_server, nurse)
    page.goto(f"{live_server.url}/patients/{patient.pk}/triage/")
    wrap = page.locator("table.triage").locator("xpath=..")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth"), "the symptom table scrolls sideways"
    rows = page.evaluate("""() => [...document.querySelectorAll('table.triage tbody tr')].map(row =>
        [...row.querySelectorAll('td')].map(td => {
            const box = td.querySelector('input').getBoundingClientRect();
            return [getComputedStyle(td, '::before').content.replace(/"/g, ''), box.right <= window.innerWidth];
        }))""")
    assert rows and all(row == [["Green", True], ["Amber", True], ["Red", True]] for row in rows)
    page.close()


def test_the_record_history_on_a_phone_breaks_no_short_word(live_server, chromium, nurse, patient):
    """Every history cell could break anywhere, so at 390 px the table read "Create/d", "syste/m or
    import" and "19:09:3/4"; only the long record and before/after texts need to."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.story import add_count, add_temperature

    add_count(patient, timezone.now() - timedelta(hours=3), "2.89")
    add_temperature(patient, timezone.now() - timedelta(hours=2), "37.4")
    page = new_page(chromium, 390, 844)
    sign_in(page, live_server, nurse)
    page.goto(f"{live_server.url}/patients/{patient.pk}/history/")
    broken = page.evaluate(r"""() => {
        const out = [];
        document.querySelectorAll('#changes tbody tr').forEach(row => [...row.cells].slice(0, 3).forEach(cell => {
            const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                for (const match of node.textContent.matchAll(/\S+/g)) {
                    const range = document.createRange();
                    range.setStart(node, match.index);
                    range.setEnd(node, match.index + match[0].length);
                    if (range.getClientRects().length > 1) out.push(match[0]);
                }
            }
        }));
        return out;
    }""")
    assert page.locator("#changes tbody tr").count() >= 2
    assert broken == [], f"words broken across lines: {broken}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.close()

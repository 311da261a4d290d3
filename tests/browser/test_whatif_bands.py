"""What-if bands on the cycle chart (issue 23), in Chromium: fetched with the table after the page is
drawn, added to the current cycle's chart hidden, each shown and hidden by its own box (or its legend
entry), with no label meeting another while they are all on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring import forecasts
from tests.browser.pages import OVERLAPS, new_page, shot, sign_in, wait_for_js
from tests.conftest import record_anc, start_on_regimen

pytestmark = [pytest.mark.browser]

OVERLAY = """() => {
  const el = document.querySelector('#first-chart .nw-chart');
  const out = {};
  (el.data || []).forEach(t => {
    const meta = String(t.meta || '');
    if (meta.startsWith('whatif:')) (out[meta.slice(7)] = out[meta.slice(7)] || []).push(t.visible === true);
  });
  return out;
}"""
LEGEND = "[...document.querySelectorAll('#first-chart .legendtext')].map(t => t.textContent)"


@pytest.mark.parametrize("width", [1024, 390])
def test_each_scenario_band_appears_on_the_cycle_chart_when_ticked_and_goes_when_not(
        width, live_server, chromium, oncologist, patient, regimens, no_pending_tasks):
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=5)
    record_anc(patient, cycle1.day1 - timedelta(hours=2), "4.6")
    record_anc(patient, cycle1.day1 + timedelta(days=3), "2.1")
    forecasts.recompute_cycle(cycle1.pk)
    page = new_page(chromium, width, 900)
    sign_in(page, live_server, oncologist)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")

    page.wait_for_selector("#whatif table.whatif-table")   # fetched after the page was drawn
    wait_for_js(page, "!!document.querySelector('#first-chart .nw-chart[data-whatif-ready]')")
    overlay = page.evaluate(OVERLAY)
    assert set(overlay) == {"peg_day2", "filgrastim", "dose_80", "delay_1w"}   # "as planned" is the forecast
    assert all(len(shown) == 3 and not any(shown) for shown in overlay.values()), overlay   # off by default
    assert not any(text.startswith("What if") for text in page.evaluate(LEGEND))

    page.check("input[data-whatif-toggle][value=peg_day2]")
    wait_for_js(page, f"({OVERLAY})().peg_day2.every(Boolean)")
    overlay = page.evaluate(OVERLAY)
    assert not any(overlay["filgrastim"]) and not any(overlay["dose_80"])
    assert any(text.startswith("What if: Pegfilgrastim day 2") for text in page.evaluate(LEGEND))

    page.uncheck("input[data-whatif-toggle][value=peg_day2]")
    wait_for_js(page, f"!({OVERLAY})().peg_day2.some(Boolean)")

    for key in ("peg_day2", "filgrastim", "dose_80", "delay_1w"):
        page.check(f"input[data-whatif-toggle][value={key}]")
    wait_for_js(page, f"Object.values(({OVERLAY})()).every(v => v.every(Boolean))")
    wait_for_js(page, "document.querySelector('#first-chart .nw-chart').dataset.labelsClear === '1'")
    assert page.evaluate(OVERLAPS) == []
    legend = page.evaluate(LEGEND)
    assert sum(text.startswith("What if") for text in legend) == 4
    shot(page, width, "23-whatif-bands")
    assert page.evaluate("document.documentElement.scrollWidth") <= width   # the page never scrolls sideways

    # The log scale keeps the bands; a click on a band's legend entry unticks its box.
    page.click("#log-toggle")
    assert all(all(v) for v in page.evaluate(OVERLAY).values())
    page.locator("#first-chart .legendtext", has_text="What if: Filgrastim").click(force=True)  # its toggle box
    wait_for_js(page, f"!({OVERLAY})().filgrastim.some(Boolean)")
    assert not page.is_checked("input[data-whatif-toggle][value=filgrastim]")
    page.close()

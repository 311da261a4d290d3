"""What the browser tests do again and again: open a page, sign in through the real form, wait, look.

One copy of each, so that a change to the sign-in page or to the Content-Security-Policy is mended
in one place (the tests had seven copies of the sign-in steps).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.conftest import PASSWORD


def new_page(chromium, width: int = 1024, height: int = 768, timeout_ms: int = 20_000):
    """Return a new page of ``width`` x ``height`` CSS px; every wait in it gives up after ``timeout_ms``."""
    page = chromium.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(timeout_ms)
    return page


def sign_in(page, live_server, user, *, password: str = PASSWORD, start: str | None = "/accounts/login/",
            wait_for: str | None = "#ward-table") -> None:
    """Sign ``user`` in through the real form and wait for the page it leads to (the ward by default).

    ``start``: where to go first (a page that is not the form is sent to it); None: the page is
    already on the form. ``wait_for``: a selector on the page after signing in; None: its load event.
    """
    if start is not None:
        page.goto(f"{live_server.url}{start}")
    page.fill("input[name=username]", user if isinstance(user, str) else user.username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    if wait_for is None:
        page.wait_for_load_state()
    else:
        page.wait_for_selector(wait_for)


def wait_for_js(page, expression: str, timeout: float = 15.0) -> None:
    """Poll a JavaScript expression until it is truthy.

    Playwright's own wait_for_function polls through eval, which the app's Content-Security-Policy
    (no 'unsafe-eval') rightly blocks; page.evaluate goes through the DevTools protocol instead.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {timeout} s: {expression}")
        time.sleep(0.1)


def shot(page, width: int, name: str) -> None:
    page.screenshot(path=str(Path(SCREENSHOTS, f"{width}-{name}.png")), full_page=True)


def wider_than_screen(page) -> list[str]:
    """Return the elements that stick out to the right of the window (none: no sideways scroll)."""
    return page.evaluate("""() => {
        if (document.documentElement.scrollWidth <= window.innerWidth) return [];
        return [...document.querySelectorAll('body *')]
            .filter(el => !el.closest('svg') && el.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 8).map(el => el.tagName + '.' + el.className + '#' + el.id + ' ' +
                             Math.round(el.getBoundingClientRect().right))
            .concat(['scrollWidth ' + document.documentElement.scrollWidth]);
    }""")


SAVE = "main form[method=post] button[type=submit]"  # not the sign-out button in the menu


OVERLAPS = r"""() => {
  const out = [];
  document.querySelectorAll('.nw-chart.drawn').forEach(chart => {
    const boxes = [];
    chart.querySelectorAll('g.annotation').forEach(g => {
      const r = (g.querySelector('rect.bg') || g).getBoundingClientRect();
      if (r.width && r.height) boxes.push({text: g.textContent.trim(), r});
    });
    chart.querySelectorAll('g.textpoint text').forEach(t => {
      const r = t.getBoundingClientRect();
      if (t.textContent.trim() && r.width && getComputedStyle(t).visibility !== 'hidden')
        boxes.push({text: t.textContent.trim(), r});
    });
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i].r, b = boxes[j].r;
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) out.push(chart.id + ': "' + boxes[i].text + '" meets "' + boxes[j].text + '"');
    }
  });
  return out;
}"""


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def serious_axe_violations(page, base_url: str) -> list[dict]:
    """Run the vendored axe-core on the page; return serious and critical WCAG A/AA violations."""
    page.add_script_tag(url=f"{base_url}/static/vendor/axe.min.js")
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }""",
        AXE_TAGS,
    )

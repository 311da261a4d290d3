"""The ward in blocks, in a real Chromium (issue 22 item 4: the 301-patient ward drawn in 300 ms).

Chromium spent most of a big ward's load laying out every row of one table. The rows now come in
blocks (templatetags/ward.py); a block after the first is not drawn while off-screen
(`content-visibility: auto`), yet every row is in the page and in the accessibility tree, the
columns of every block line up under the header, and the 30-second refresh keeps the nurse's place.
Here a block is 5 rows, not 20, so that a few dozen patients make several blocks.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import Alert
from tests.browser.pages import new_page, sign_in, wider_than_screen
from tests.conftest import make_patient, start_on_regimen
from tests.story import add_count, raise_alert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = 30


@pytest.fixture
def ward_of_thirty(team, regimens, monkeypatch, no_pending_tasks):
    from monitoring.templatetags import ward

    monkeypatch.setattr(ward, "BLOCK_ROWS", 5)
    now = timezone.now()
    for i in range(ROWS):
        patient = make_patient(team, mrn=f"BL{i:02d}", family_name=f"Blockrow{i:02d}")
        cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=3 + i % 12)
        add_count(patient, now - timedelta(hours=3 + i), ("2.0", "0.8", "0.4")[i % 3])
        if i % 4 == 0:
            raise_alert(patient, cycle, Alert.Kind.NADIR_UNMONITORED, Alert.Severity.LOW, raised_at=now)


def open_ward(chromium, live_server, nurse, width: int, height: int = 768):
    page = new_page(chromium, width, height)
    sign_in(page, live_server, nurse)
    return page


@pytest.mark.parametrize("width", [1366, 1024])
def test_off_screen_blocks_wait_to_be_drawn_and_every_block_lines_up(width, live_server, chromium, nurse,
                                                                      ward_of_thirty):
    page = open_ward(chromium, live_server, nurse, width)
    blocks = page.evaluate("""() => [...document.querySelectorAll('#ward-table tbody.ward-block')].map(block => [
        getComputedStyle(block).contentVisibility, block.querySelectorAll('tr[data-patient]').length])""")
    assert blocks == [["visible", 5]] + [["auto", 5]] * (ROWS // 5 - 1)
    # The last block is off-screen: not drawn, yet its rows are in the page and read by a screen reader.
    last = page.locator("#ward-table tbody.ward-block").last.locator("tr[data-patient]").last
    assert page.evaluate("""() => {
        const rows = document.querySelectorAll('#ward-table tr[data-patient]');
        return !rows[rows.length - 1].checkVisibility({contentVisibilityAuto: true})
            && rows[0].checkVisibility({contentVisibilityAuto: true});
    }""")
    name = last.locator(".patient-link").text_content()  # innerText is empty while not drawn
    assert page.get_by_role("row", name=name).count() == 1 and page.get_by_role("link", name=name).count() == 1

    # Scrolled through, every block's columns start where the header's do, and nothing sticks out.
    for _ in range(40):
        page.mouse.wheel(0, 500)
        page.wait_for_timeout(30)
    misaligned = page.evaluate("""() => {
        const heads = [...document.querySelectorAll('#ward-table thead th')].map(th => th.getBoundingClientRect());
        const out = [];
        document.querySelectorAll('#ward-table tr[data-patient]').forEach(row => [...row.cells].forEach((td, i) => {
            const box = td.getBoundingClientRect();
            if (Math.abs(box.left - heads[i].left) > 1 || Math.abs(box.width - heads[i].width) > 1)
                out.push(row.dataset.patient + ' column ' + i);
            if (td.scrollWidth > td.clientWidth + 1) out.push(row.dataset.patient + ' column ' + i + ' overflows');
        }));
        return out;
    }""")
    assert misaligned == []
    assert wider_than_screen(page) == []
    page.close()


def test_the_refresh_keeps_the_row_in_view_where_it_was(live_server, chromium, nurse, settings, ward_of_thirty):
    settings.WARD_REFRESH_SECONDS = 1  # 30 s in use; the live server runs in this process
    page = open_ward(chromium, live_server, nurse, 1024, 600)
    # Scroll down through the blocks, as a nurse would: those passed are drawn, their heights known.
    while page.evaluate("window.scrollY") < 2600:
        page.mouse.wheel(0, 300)
        page.wait_for_timeout(30)
    page.wait_for_timeout(200)
    # The row at the top of the window, where it is, and the scroll position: in every frame drawn after
    # a refresh, not only once things settle (a block swapped in starts at an estimated height).
    page.evaluate("""() => {
        window.topRow = () => {
            const row = [...document.querySelectorAll('#ward-table tr[data-patient]')]
                .find(r => r.getBoundingClientRect().bottom > 0);
            return [row.dataset.patient, Math.round(row.getBoundingClientRect().top), window.scrollY].join(' ');
        };
        window.framesAfterRefresh = [];
        document.addEventListener('htmx:afterSwap', () => {
            let frames = 0;
            const look = () => {
                window.framesAfterRefresh.push(window.topRow());
                if (++frames < 4) requestAnimationFrame(look);
            };
            requestAnimationFrame(look);
        });
    }""")
    before = page.evaluate("window.topRow()")
    page.wait_for_timeout(2500)  # two refreshes or more, at 1 s
    seen = page.evaluate("window.framesAfterRefresh")
    assert len(seen) >= 8, "the rows refreshed while we watched"
    assert set(seen) == {before}, "the same patient stays at the same place in every frame after a refresh"
    page.close()

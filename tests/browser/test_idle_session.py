"""A ward left open in a real Chromium, its refresh running, is logged out after the idle limit (issue 25)."""
from __future__ import annotations

import pytest

from monitoring.guards.idle import AUTO_REFRESH_HEADER
from tests.browser.pages import new_page, sign_in
from tests.conftest import make_patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_unattended_ward_is_logged_out_while_its_refresh_runs(live_server, chromium, nurse, team, settings,
                                                                 no_pending_tasks):
    settings.WARD_REFRESH_SECONDS = 1  # 30 s in use; the live server runs in this process
    settings.SESSION_IDLE_SECONDS = 4  # SESSION_IDLE_MINUTES in seconds
    make_patient(team, mrn="IDLE1", family_name="Left-Open")
    page = new_page(chromium, 1024, 768, timeout_ms=30_000)
    refreshes = []
    page.on("request", lambda request: refreshes.append(request.url)
            if request.headers.get(AUTO_REFRESH_HEADER.lower()) else None)
    sign_in(page, live_server, nurse)

    # Nobody touches the page: the rows keep refreshing, and the session still ends.
    page.wait_for_url("**/accounts/login/**")
    assert len(refreshes) >= 2, "the ward's own refresh was running while the session ran out"
    assert page.locator("input[name=password]").is_visible() and page.locator("#ward-live").count() == 0
    assert "without activity" in page.content()
    page.close()

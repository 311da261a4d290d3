"""The ward's markup, as the browser gets it (issue 22 item 4: the 301-patient ward drawn in 300 ms).

What a nurse reads stays on the page: every patient, every cell. What these tests hold is the shape
that keeps Chromium's work small: the rows come in blocks, and a block after the first is skipped
(`content-visibility: auto`) while off-screen; no template text leaks onto the page.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.integration.web.test_dashboard import build_story_patient

pytestmark = pytest.mark.django_db


def test_the_ward_prints_no_template_comment(client, nurse, team, regimens):
    build_story_patient(team, regimens)
    client.force_login(nurse)
    html = client.get(reverse("ward")).content.decode()
    assert "{#" not in html and "#}" not in html and "{%" not in html

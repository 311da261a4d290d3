"""The ward's markup, as the browser gets it (issue 22 item 4: the 301-patient ward drawn in 300 ms).

What a nurse reads stays on the page: every patient, every cell. What these tests hold is the shape
that keeps Chromium's work small: the rows come in blocks, and a block after the first is skipped
(`content-visibility: auto`) while off-screen; no template text leaks onto the page.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.conftest import make_patient, start_on_regimen
from tests.story import build_story_patient

pytestmark = pytest.mark.django_db


def test_the_ward_prints_no_template_comment(client, nurse, team, regimens):
    build_story_patient(team, regimens)
    client.force_login(nurse)
    html = client.get(reverse("ward")).content.decode()
    assert "{#" not in html and "#}" not in html and "{%" not in html


def test_every_patient_is_on_the_ward_in_blocks_of_rows(client, nurse, team, regimens, monkeypatch):
    from monitoring.templatetags import ward

    monkeypatch.setattr(ward, "BLOCK_ROWS", 2)  # the ward's 20, scaled down to five patients
    for i in range(5):
        start_on_regimen(make_patient(team, mrn=f"BLK{i}", family_name=f"Block{i}"), regimens["DOCETAXEL-75-Q3W"],
                         days_ago=2 + i)
    client.force_login(nurse)
    html = client.get(reverse("ward")).content.decode()
    table = html.split('<table class="ward" id="ward-table">')[1].split("</table>")[0]
    blocks = re.findall(r'<tbody class="ward-block">(.*?)</tbody>', table, re.S)
    assert [block.count('<tr class="risk-row') for block in blocks] == [2, 2, 1]
    assert table.count("<tbody") == 3 and table.count('<tr class="risk-row') == 5  # no row outside a block
    assert all(f"Block{i}" in table for i in range(5))  # every patient, none behind a "show more"


def test_an_empty_ward_says_so_in_one_row(client, nurse, team):
    client.force_login(nurse)
    html = client.get(reverse("ward")).content.decode()
    assert "No active patients match in your teams." in html and 'class="ward-block"' not in html


def test_a_ward_row_stays_small(client, nurse, team, regimens):
    """About 25 elements a row (7,600 for the 301-patient bench ward): each one the browser parses and keeps."""
    build_story_patient(team, regimens)
    client.force_login(nurse)
    html = client.get(reverse("ward")).content.decode()
    rows = [row.split("</tr>")[0] for row in html.split('<tr class="risk-row')[1:]]
    assert rows and all(len(re.findall(r"<[a-z]", row)) + 1 <= 32 for row in rows)

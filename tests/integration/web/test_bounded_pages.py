"""Pages stay bounded however long a record grows: the history page and the patient page (issue 16)."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring import charts
from monitoring.models import CountResult

pytestmark = pytest.mark.django_db


def add_counts(patient, n: int, start_minutes: int = 0) -> None:
    """Store n counts one minute apart (with their history rows), older than now."""
    base = timezone.now() - timedelta(days=30)
    bulk_create_with_history([
        CountResult(patient=patient, collected_at=base + timedelta(minutes=start_minutes + i),
                    anc_1e9_per_l=Decimal("0.5") + Decimal(i % 40) / 10, entered_value="1", entered_unit="10^9/L",
                    ctcae_grade=0)
        for i in range(n)
    ], CountResult, batch_size=2000)


def queries_for(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response.content.decode()


def change_rows(page: str) -> int:
    table = page.split('id="changes"')[1].split("</table>")[0]
    return table.count("<tr>") - 1  # minus the header


def test_history_page_has_a_fixed_query_count_from_10_to_10000_rows(nurse_client, patient):
    url = reverse("patient_history", args=[patient.pk])

    def grow(n: int, start_minutes: int) -> None:
        add_counts(patient, n, start_minutes)
        patient.weight_kg = Decimal(60 + start_minutes % 7)  # the newest row is a change (before -> after)
        patient.save()

    grow(8, 0)  # + the patient's creation and change: 10 rows
    small, page = queries_for(nurse_client, url)
    assert change_rows(page) == 10
    grow(9989, 10)
    large, page = queries_for(nurse_client, url)
    assert large == small
    assert change_rows(page) == 100 and "page 1 of 100 (10000 changes)" in page
    last, page = queries_for(nurse_client, url + "?page=100")
    assert last <= small and change_rows(page) == 100
    assert "Created" in page and f"{patient.family_name}, {patient.given_name}" in page  # the oldest row


def test_history_shows_before_and_after_of_a_change_on_a_later_page(nurse_client, patient):
    add_counts(patient, 1)
    count = CountResult.objects.get()
    count.anc_1e9_per_l = Decimal("0.25")
    count.save()
    page = nurse_client.get(reverse("patient_history", args=[patient.pk])).content.decode()
    assert "0.500 &rarr; 0.25" in page.replace("\n", "") or "0.500 → 0.25" in page


def test_patient_page_is_bounded_for_a_very_long_record(nurse_client, patient, regimens):
    from tests.conftest import start_on_regimen

    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=40)
    add_counts(patient, 5000)
    url = reverse("patient", args=[patient.pk])
    page = nurse_client.get(url).content.decode()
    table = page.split('id="counts-table"')[1].split("</table>")[0]
    assert table.count("<tr>") - 1 == 100
    assert "page 1 of 50 (5000 counts)" in page
    for figure in re.findall(r'<script id="fig-[^"]+" type="application/json">(.*?)</script>', page, re.S):
        for trace in json.loads(figure)["data"]:
            assert len(trace.get("x", [])) <= charts.MAX_CHART_POINTS
    older = nurse_client.get(url + "?counts_page=50").content.decode()
    assert "page 50 of 50" in older


def test_decimation_keeps_every_stretchs_lowest_and_highest():
    values = [5.0] * 10000
    values[1234], values[8765] = 0.1, 40.0  # a nadir and a peak among many ordinary counts
    kept = charts.decimate(list(range(10000)), lambda i: values[i])
    assert len(kept) <= charts.MAX_CHART_POINTS
    assert 1234 in kept and 8765 in kept and kept == sorted(kept)
    assert charts.decimate([1, 2, 3], float) == [1, 2, 3]

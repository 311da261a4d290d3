"""The ward's `day` filter says the same as Django's `date` filter, in the clinic's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

FORMATS = ["D d M", "D j M", "d M"]
# Around both clock changes in Europe/London, and late evenings UTC that are already tomorrow in BST.
MOMENTS = [datetime(2025, 3, 29, 23, 30, tzinfo=UTC) + timedelta(minutes=45 * k) for k in range(8)] + [
    datetime(2025, 10, 25, 22, 30, tzinfo=UTC) + timedelta(minutes=45 * k) for k in range(8)
] + [datetime(2025, 7, 14, 23, 30, tzinfo=UTC), datetime(2025, 12, 31, 23, 59, tzinfo=UTC)]


def _render(source: str, value) -> str:
    return Template("{% load nw_format %}" + source).render(Context({"value": value}))


@pytest.mark.parametrize("day_format", FORMATS)
def test_day_says_what_date_says(day_format):
    for zone in ("Europe/London", "Pacific/Auckland", "America/New_York"):
        with timezone.override(zone):
            for value in [*MOMENTS, date(2025, 11, 25), None, ""]:
                assert _render(f'{{{{ value|day:"{day_format}" }}}}', value) == _render(
                    f'{{{{ value|date:"{day_format}" }}}}', value
                ), (zone, value)


def test_a_late_evening_in_summer_is_the_next_day_in_london():
    with timezone.override("Europe/London"):
        assert _render('{{ value|day:"D j M" }}', datetime(2025, 7, 14, 23, 30, tzinfo=UTC)) == "Tue 15 Jul"

"""A forecast marked fresh has read every count its input version counts (no count left out)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from monitoring import clinical, forecasts, records
from monitoring.models import Cycle

pytestmark = pytest.mark.django_db


def count_at(patient, collected_at, value: str = "1.20"):
    return records.record_count(patient, clinical.parse_count(
        collected_at=collected_at, unit="10^9/L", anc=Decimal(value)))


def assert_fresh_with_every_count(cycle, forecast, n_counts: int) -> None:
    cycle.refresh_from_db()
    assert forecast.input_version == cycle.input_version  # the page shows it as fresh ...
    assert forecast.n_counts == n_counts  # ... so it must have read every count


def test_a_count_from_a_clock_a_few_minutes_fast_is_in_the_forecast_that_counts_it(cycle, patient):
    now = timezone.now()
    count_at(patient, now - timedelta(days=1))
    count_at(patient, now + timedelta(minutes=3), "0.90")  # accepted: within the entry paths' tolerance
    forecast = forecasts.recompute_cycle(cycle.pk, now=now)
    assert_fresh_with_every_count(cycle, forecast, 2)


def test_a_count_saved_between_the_clock_and_the_version_reads_is_not_left_out(cycle, patient):
    """The recompute reads the cycle's version, then the clock; a count saved before the version read
    (here: just before the query that reads it) is in the history, even one at the edge of the tolerance."""
    count_at(patient, timezone.now() - timedelta(days=1))
    saved = []

    def save_a_count_first(execute, sql, params, many, context):
        reads_the_cycle = sql.startswith("SELECT") and f'FROM "{Cycle._meta.db_table}"' in sql
        if reads_the_cycle and not saved:
            saved.append(None)  # once: saving runs queries through this wrapper too
            saved[0] = count_at(patient, timezone.now() + forecasts.FUTURE_TOLERANCE, "0.90")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(save_a_count_first):
        forecast = forecasts.recompute_cycle(cycle.pk)
    assert saved and saved[0] is not None
    assert_fresh_with_every_count(cycle, forecast, 2)

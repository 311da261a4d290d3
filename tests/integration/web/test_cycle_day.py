"""One day of cycle (issue 22): ward, patient header, chart, alert rules, next-FBC advice and export agree.

The dose of day 1 is given at 14:00 clinic time; a nurse counts days on the calendar, so 01:00,
09:00 and 23:59 six calendar days later are all day 7 (under the old "24 h from the dose" rule,
01:00 and 09:00 were still day 6, and the chart, ward and export disagreed).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from monitoring import charts, forecasting, forecasts, selectors, treatment
from monitoring.alerts.rules.shared import nadir_window
from monitoring.cycle_calendar import day_of_cycle
from monitoring.views.dashboard import CSV_COLUMNS, _summary_row
from tests.conftest import make_patient
from tests.story import add_count

pytestmark = pytest.mark.django_db

CLOCK_TIMES = [time(1, 0), time(9, 0), time(23, 59)]


def clinic(day, clock: time) -> datetime:
    return timezone.make_aware(datetime.combine(day, clock))


@pytest.fixture
def afternoon_dose(team, nurse, regimens):
    """A docetaxel q3w patient whose day-1 dose was given at 14:00, 20 calendar days ago."""
    patient = make_patient(team, mrn="DAY001", nurse=nurse)
    day1_date = timezone.localdate() - timedelta(days=20)
    day1 = clinic(day1_date, time(14, 0))
    course = treatment.start_course(patient, regimens["DOCETAXEL-75-Q3W"], day1, 4)
    cycle = course.cycles.get(number=1)
    treatment.give_cycle(cycle, day1, Decimal("1.00"))
    add_count(patient, day1 - timedelta(hours=3), "4.2")
    add_count(patient, clinic(day1_date + timedelta(days=3), time(10, 0)), "3.1")
    return patient, cycle, day1_date


@pytest.mark.parametrize("clock", CLOCK_TIMES, ids=["01:00", "09:00", "23:59"])
def test_every_reader_says_day_7_six_calendar_days_after_an_afternoon_dose(afternoon_dose, nurse, clock):
    patient, cycle, day1_date = afternoon_dose
    now = clinic(day1_date + timedelta(days=6), clock)
    add_count(patient, now, "0.8")  # the lowest count, taken at that moment

    # Ward row and patient header (the view shows `cycle_day(now)` of the page's current cycle).
    row = next(r for r in selectors.ward_rows(nurse, selectors.WardFilters(), now) if r.patient.pk == patient.pk)
    assert row.cycle_day == 7
    page = selectors.patient_page(patient, now)
    assert page.current.cycle.cycle_day(now) == 7

    # Chart: the "today" label and line, and the count drawn inside day 7 with "Day 7" on hover.
    figure = charts.cycle_figure(page.current, now)
    today = next(a for a in figure["layout"]["annotations"] if a["text"].startswith("Today"))
    assert today["text"] == "Today, day 7" and 7 <= today["x"] < 8
    counts = next(t for t in figure["data"] if t["meta"] == "counts")
    assert 7 <= counts["x"][-1] < 8 and counts["hovertext"][-1].count("Day 7, ") == 1
    # No "Observed nadir" label here: the latest count is not called a nadir (it may still fall).

    # Export: the observed nadir's day.
    summary = dict(zip(CSV_COLUMNS, _summary_row(patient, page.current), strict=True))
    assert summary["observed_nadir_day"] == 7

    # Alert rules: the regimen's nadir window (days 7 to 14) has begun at every one of these times,
    # and had not at 23:59 on day 6.
    facts = SimpleNamespace(forecast=None, nadir_window_days=(7, 14), day1=cycle.day1,
                            clinic_tz=timezone.get_current_timezone())
    start, end = nadir_window(facts)
    assert start <= now < end
    assert not start <= clinic(day1_date + timedelta(days=5), time(23, 59)) < end
    assert end == clinic(day1_date + timedelta(days=14), time(0))

    # Next-FBC advice: the engine's "day N" is the calendar day N, and the stored date is its date.
    cycle.refresh_from_db()
    advice = forecasting.forecast_history(selectors.forecast_history(cycle, now))["next_count"]
    assert advice is not None  # day 7 of 21, nadir ahead: one more count is advised
    advised_at = selectors.from_local_iso(advice["time"])
    assert day_of_cycle(advised_at, cycle.day1, timezone.get_current_timezone()) == advice["day_of_cycle"]
    stored = forecasts.recompute_cycle(cycle.pk, now=now)
    assert stored.next_fbc_on == timezone.localtime(advised_at).date()
    assert stored.next_fbc_on - day1_date == timedelta(days=advice["day_of_cycle"] - 1)


def test_day_of_cycle_is_the_calendar_day_in_clinic_time():
    tz = timezone.get_current_timezone()
    day1 = clinic(datetime(2026, 3, 1).date(), time(14, 0))
    assert day_of_cycle(day1 - timedelta(hours=14), day1, tz) == 1          # 00:00 of the dose's date
    assert day_of_cycle(day1 - timedelta(hours=14, minutes=1), day1, tz) == 0
    assert day_of_cycle(clinic(datetime(2026, 3, 2).date(), time(9, 0)), day1, tz) == 2
    # Across the clocks going forward (Europe/London, 29 March 2026): still whole calendar days.
    assert day_of_cycle(clinic(datetime(2026, 3, 29).date(), time(23, 59)), day1, tz) == 29

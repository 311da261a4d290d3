""""Not ready for cycle N on <day>" tells the present from the moment of the write that changes it: the count
saved (or corrected), the cycle delayed. No worker, no sweep: the nurse reading the patient page right after
delaying cycle 2 sees the day it was delayed to, not the day it was planned for."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import clinical, records, treatment
from monitoring.models import Alert, AlertEvent
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


def count(patient, anc: str, hours_ago: float, platelets: str | None = None):
    return records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L", anc=Decimal(anc),
        platelets=Decimal(platelets) if platelets else None))


def live_not_ready(cycle) -> Alert:
    return Alert.objects.get(cycle=cycle, kind=Alert.Kind.NOT_READY, resolved_at__isnull=True)


def shown(alert: Alert) -> str:
    alert.refresh_from_db()
    return alert.latest_message or alert.message


def day(moment) -> str:
    return timezone.localtime(moment).strftime("%a %d %b")


@pytest.fixture
def cycle1(patient, regimens):
    """Cycle 1 of docetaxel given 20 days ago: cycle 2 is planned for tomorrow."""
    return start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=20)


def test_delaying_the_cycle_moves_the_day_the_not_ready_alert_names_at_once(patient, cycle1):
    cycle2 = cycle1.course.cycles.get(number=2)
    planned = cycle2.planned_day1
    count(patient, "1.1", hours_ago=2)
    alert = live_not_ready(cycle1)
    assert f"Not ready for cycle 2 on {day(planned)}" in shown(alert)
    new_day1 = planned + timedelta(days=7)
    treatment.delay_cycle(cycle2, new_day1, "ANC 1.1 before cycle 2")
    # Still live (nothing has shown the patient ready), and it names the day cycle 2 now waits for.
    assert live_not_ready(cycle1).pk == alert.pk
    text = shown(alert)
    assert f"cycle 2 on {day(new_day1)}" in text and day(planned) not in text.split("(")[0]
    assert "the last pre-dose ANC, 1.100 x10^9/L" in text  # the count that made it not ready is still named
    assert AlertEvent.objects.filter(alert=alert, kind=AlertEvent.Kind.UPDATED).exists()


def test_a_new_low_pre_dose_count_for_the_delayed_day_is_named_when_saved(patient, cycle1):
    cycle2 = cycle1.course.cycles.get(number=2)
    count(patient, "1.1", hours_ago=2)
    assert live_not_ready(cycle1)
    new_day1 = timezone.now() + timedelta(days=2)
    treatment.delay_cycle(cycle2, new_day1, "ANC 1.1 before cycle 2")
    count(patient, "1.3", hours_ago=1)  # inside the 72 h before the new day 1: the pre-dose count now
    text = shown(live_not_ready(cycle1))
    assert f"Not ready for cycle 2 on {day(new_day1)}" in text and "pre-dose ANC 1.300" in text


def test_a_recovered_count_before_the_delayed_day_resolves_it_when_saved(patient, cycle1):
    cycle2 = cycle1.course.cycles.get(number=2)
    count(patient, "1.1", hours_ago=2)
    alert = live_not_ready(cycle1)
    treatment.delay_cycle(cycle2, timezone.now() + timedelta(days=2), "ANC 1.1 before cycle 2")
    count(patient, "2.4", hours_ago=1)
    alert.refresh_from_db()
    assert alert.resolved_at is not None

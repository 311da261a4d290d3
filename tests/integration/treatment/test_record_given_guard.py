"""Issue 11: "Record given" says why a cycle may not be safe to give and needs an audited override reason."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import clinical, records
from monitoring.models import Cycle
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


def count(patient, anc: str, hours_ago: float):
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L", anc=Decimal(anc)))


def give(client, cycle, *, days_from_now: float = 0, reason: str = ""):
    given_at = timezone.localtime(timezone.now() + timedelta(days=days_from_now))
    return client.post(reverse("cycle_give", args=[cycle.pk]), {
        "given_at": given_at.strftime("%Y-%m-%dT%H:%M"), "dose_fraction": "1.00", "override_reason": reason})


@pytest.fixture
def cycle2(patient, regimens):
    """Cycle 1 of docetaxel given 21 days ago; cycle 2 is due today."""
    return start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=21).course.cycles.get(number=2)


def test_a_good_pre_dose_count_and_nothing_open_saves_without_a_reason(nurse_client, patient, cycle2):
    count(patient, "2.4", hours_ago=20)
    response = give(nurse_client, cycle2)
    assert response.status_code == 302
    cycle2.refresh_from_db()
    assert cycle2.status == Cycle.Status.GIVEN and cycle2.given_override_reason == ""


@pytest.mark.parametrize("setup, words", [
    (lambda p: count(p, "1.1", hours_ago=20), "is below the regimen threshold of 1.50 x10^9/L"),
    (lambda p: count(p, "2.4", hours_ago=80), "No blood count in the 72 h before this day 1"),
    # The count the day before day 1 is cycle 2's pre-dose count: its alert names that cycle.
    (lambda p: count(p, "0.3", hours_ago=20), "Grade 4 neutropenia observed (cycle 2, raised"),
])
def test_each_concern_is_named_and_holds_the_save_until_a_reason_is_given(nurse_client, patient, cycle2, setup, words):
    setup(patient)
    page = nurse_client.get(reverse("cycle_give", args=[cycle2.pk])).content.decode()
    assert words in page  # said before anything is typed
    response = give(nurse_client, cycle2)
    assert response.status_code == 200 and words in response.content.decode()
    cycle2.refresh_from_db()
    assert cycle2.status == Cycle.Status.PLANNED
    assert give(nurse_client, cycle2, reason="Oncologist Dr Shah agreed: G-CSF support").status_code == 302
    cycle2.refresh_from_db()
    assert cycle2.status == Cycle.Status.GIVEN
    assert cycle2.given_override_reason == "Oncologist Dr Shah agreed: G-CSF support"
    assert words in cycle2.given_override_concerns


def test_a_day1_earlier_than_the_previous_cycle_allows_is_named(nurse_client, patient, regimens):
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=5)
    count(patient, "2.4", hours_ago=3)
    response = give(nurse_client, cycle1.course.cycles.get(number=2))
    assert "a 21-day cycle allows cycle 2 from" in response.content.decode()


def test_the_override_reason_is_in_the_patients_history(nurse_client, patient, cycle2):
    give(nurse_client, cycle2, reason="Consultant decision, ward round")
    history = nurse_client.get(reverse("patient_history", args=[patient.pk])).content.decode()
    assert "Consultant decision, ward round" in history

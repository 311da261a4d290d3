"""Fixtures shared by integration tests of more than one room."""
from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring import forecasts
from tests.conftest import record_anc, start_on_regimen


@pytest.fixture
def due_cycle(patient, regimens):
    """Cycle 2 of docetaxel 75, due a few hours ago (not yet given), after a grade 4 nadir in cycle 1.

    Its forecast is stored: the what-if table, the FHIR risk assessments and "Apply as plan" read it.
    """
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=21.2)
    record_anc(patient, cycle1.day1 - timedelta(hours=2), "4.6")
    record_anc(patient, cycle1.day1 + timedelta(days=7, hours=1), "0.35")
    record_anc(patient, cycle1.day1 + timedelta(days=11, hours=1), "0.6")
    cycle2 = cycle1.course.cycles.get(number=2)
    forecasts.recompute_cycle(cycle2.pk)
    return cycle2

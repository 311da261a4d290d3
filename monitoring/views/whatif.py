"""The patient page's what-if table (issue 23), fetched by the page after it is drawn (issue 22: the
first screen does not wait for a fit and ten scenarios). A read of the patient's record, logged."""

from __future__ import annotations

from dataclasses import dataclass

from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from monitoring.models import Cycle
from monitoring.models.care import current_cycle_of
from monitoring.views import patient_for


@dataclass(frozen=True)
class _Current:
    """What _whatif_table.html reads of the current cycle (the patient page's CycleData has more)."""

    cycle: Cycle
    started: bool


def patient_whatif(request, pk: int):
    """Return the current cycle's what-if table (empty when the patient has no cycle under way)."""
    patient = patient_for(request, pk)
    now = timezone.now()
    course = patient.courses.filter(active=True).select_related("regimen").first()
    current = None
    if course is not None:
        cycles = [c for c in course.cycles.select_related("course__regimen").prefetch_related("administrations")
                  if c.status != Cycle.Status.CANCELLED]
        cycle = current_cycle_of(cycles, now)
        if cycle is not None:
            started = cycle.status == Cycle.Status.GIVEN or bool(cycle.administrations.all())
            current = _Current(cycle=cycle, started=started)
    return render(request, "monitoring/_whatif_table.html", {"page": {"current": current}, "patient": patient})


urlpatterns = [
    path("patients/<int:pk>/whatif/", patient_whatif, name="patient_whatif"),
]

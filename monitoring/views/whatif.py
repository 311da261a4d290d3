"""The patient page's what-if table (issue 23), fetched by the page after it is drawn (issue 22: the
first screen does not wait for a fit and ten scenarios). A read of the patient's record, logged."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from monitoring import selectors
from monitoring.views import patient_for


def patient_whatif(request, pk: int):
    """Return the current cycle's what-if table (empty when the patient has no cycle under way)."""
    patient = patient_for(request, pk)
    page = selectors.patient_page(patient, timezone.now())
    return render(request, "monitoring/_whatif_table.html", {"page": page, "patient": patient})


urlpatterns = [
    path("patients/<int:pk>/whatif/", patient_whatif, name="patient_whatif"),
]

"""Calibration in the clinic: how the stored forecasts did on the counts that came after them.

Clinic-wide aggregates, so any signed-in user sees the same page: whether to trust the bands is a
question about the model on this clinic's population, not about one team, and the page shows only
counts and rates per regimen (no patient, no date, no value of any one count).
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from monitoring import selectors


def calibration(request):
    summary = selectors.calibration_summary(timezone.now())
    return render(request, "monitoring/calibration.html", {"summary": summary})


urlpatterns = [
    path("forecasts/calibration/", calibration, name="forecast_calibration"),
]

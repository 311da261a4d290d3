"""Ward overview, patient page and alert inbox (first version: tables only)."""
from __future__ import annotations

from django.shortcuts import render
from django.urls import path

from monitoring.audit import record_access
from monitoring.models import Alert, Patient
from monitoring.views import patient_for


def ward(request):
    patients = Patient.objects.visible_to(request.user).filter(active=True).select_related("team")
    return render(request, "monitoring/ward.html", {"patients": patients})


def patient_detail(request, pk: int):
    patient = patient_for(request, pk)
    record_access(request, patient)
    context = {
        "patient": patient,
        "counts": patient.counts.order_by("-collected_at"),
        "gcsf_doses": patient.gcsf_doses.order_by("-given_at"),
        "temperatures": patient.temperatures.order_by("-taken_at"),
        "courses": patient.courses.prefetch_related("cycles__administrations"),
    }
    return render(request, "monitoring/patient.html", context)


def alerts(request):
    visible = Alert.objects.filter(patient__in=Patient.objects.visible_to(request.user)).select_related("patient")
    return render(request, "monitoring/alerts.html", {"alerts": visible.filter(resolved_at__isnull=True)})


urlpatterns = [
    path("", ward, name="ward"),
    path("patients/<int:pk>/", patient_detail, name="patient"),
    path("alerts/", alerts, name="alerts"),
]

"""A patient's record history: every change (who, when, before and after) and every read."""
from __future__ import annotations

from itertools import chain

from django.shortcuts import render
from django.urls import path

from monitoring.models import (
    AccessLog,
    ChemoAdministration,
    CountResult,
    Cycle,
    GcsfDose,
    TemperatureReading,
    TreatmentCourse,
)
from monitoring.views import patient_for

HIDDEN_FIELDS = {"input_version", "ctcae_grade", "entered_at"}


def _changes(record) -> list[dict]:
    """Return the fields this historical record changed, with values before and after."""
    previous = record.prev_record
    if record.history_type != "~" or previous is None:
        return []
    delta = record.diff_against(previous)
    return [
        {"field": change.field, "old": change.old, "new": change.new}
        for change in delta.changes
        if change.field not in HIDDEN_FIELDS
    ]


def patient_history(request, pk: int):
    patient = patient_for(request, pk, AccessLog.Action.HISTORY)
    histories = chain(
        patient.history.select_related("history_user"),
        TreatmentCourse.history.filter(patient_id=patient.pk).select_related("history_user"),
        Cycle.history.filter(course__patient_id=patient.pk).select_related("history_user"),
        ChemoAdministration.history.filter(cycle__course__patient_id=patient.pk).select_related("history_user"),
        CountResult.history.filter(patient_id=patient.pk).select_related("history_user"),
        GcsfDose.history.filter(patient_id=patient.pk).select_related("history_user"),
        TemperatureReading.history.filter(patient_id=patient.pk).select_related("history_user"),
    )
    changes = sorted(
        (
            {
                "when": record.history_date,
                "who": record.history_user,
                "action": record.get_history_type_display(),
                "what": record.instance._meta.verbose_name,
                "record": str(record.instance),
                "changes": _changes(record),
            }
            for record in histories
        ),
        key=lambda entry: entry["when"],
        reverse=True,
    )
    reads = patient.access_log.select_related("user", "token")[:200]
    return render(request, "monitoring/history.html", {"patient": patient, "changes": changes, "reads": reads})


urlpatterns = [path("patients/<int:pk>/history/", patient_history, name="patient_history")]

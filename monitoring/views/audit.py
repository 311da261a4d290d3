"""A patient's record history: every change (who, when, before and after) and every read.

Paginated, 100 changes a page, in a fixed number of queries whatever the length of the trail:
one UNION query finds the page's rows across the seven historical tables, then one query per
table loads them (with their user and what their label needs) and one per table their
previous versions for the before -> after column.
"""
from __future__ import annotations

from collections import defaultdict

from django.core.paginator import Paginator
from django.db.models import CharField, Value
from django.shortcuts import render
from django.urls import path

from monitoring.models import (
    AccessLog,
    ChemoAdministration,
    CountResult,
    Cycle,
    GcsfDose,
    Patient,
    TemperatureReading,
    TreatmentCourse,
)
from monitoring.views import patient_for

HIDDEN_FIELDS = {"input_version", "ctcae_grade", "entered_at"}
CHANGES_PER_PAGE = 100
READS_SHOWN = 200


def _histories(patient: Patient) -> dict:
    """Return {kind: (historical queryset of this patient, select_related, label(record))}."""
    return {
        "patient": (Patient.history.filter(id=patient.pk), (), lambda r: f"{r.family_name}, {r.given_name} ({r.mrn})"),
        "course": (TreatmentCourse.history.filter(patient_id=patient.pk), ("regimen",),
                   lambda r: f"{r.regimen} from {r.started_on:%d %b %Y}"),
        "cycle": (Cycle.history.filter(course__patient_id=patient.pk), ("course__regimen",),
                  lambda r: f"Cycle {r.number} of {r.course.regimen.name if r.course else 'a removed course'}"),
        "administration": (ChemoAdministration.history.filter(cycle__course__patient_id=patient.pk), (),
                           lambda r: str(r.instance)),
        "count": (CountResult.history.filter(patient_id=patient.pk), (), lambda r: str(r.instance)),
        "gcsf": (GcsfDose.history.filter(patient_id=patient.pk), (), lambda r: str(r.instance)),
        "temperature": (TemperatureReading.history.filter(patient_id=patient.pk), (), lambda r: str(r.instance)),
    }


def _page_keys(histories: dict):
    """Return one queryset of (history_date, history_id, kind) over every table, newest first."""
    parts = [
        queryset.order_by().annotate(kind=Value(kind, output_field=CharField()))  # SQLite: no ORDER BY inside
        .values_list("history_date", "history_id", "kind")
        for kind, (queryset, _, _) in histories.items()
    ]
    return parts[0].union(*parts[1:], all=True).order_by("-history_date", "-history_id")


def _entries(histories: dict, keys: list[tuple]) -> list[dict]:
    """Load the page's historical rows and their previous versions: two queries per table at most."""
    wanted = defaultdict(list)
    for _, history_id, kind in keys:
        wanted[kind].append(history_id)
    records = {}
    for kind, ids in wanted.items():
        queryset, related, label = histories[kind]
        rows = list(queryset.model.objects.filter(history_id__in=ids).select_related("history_user", *related))
        previous = _previous_versions(queryset.model, [r for r in rows if r.history_type == "~"])
        for row in rows:
            records[kind, row.history_id] = _entry(row, label(row), previous.get(row.history_id))
    return [records[kind, history_id] for _, history_id, kind in keys]


def _previous_versions(model, changed: list) -> dict:
    """Return {history_id: the version before it} for changed rows, from one query."""
    if not changed:
        return {}
    by_object = defaultdict(list)
    for version in model.objects.filter(id__in={r.id for r in changed}).order_by("history_date", "history_id"):
        by_object[version.id].append(version)
    previous = {}
    for row in changed:
        earlier = [v for v in by_object[row.id] if (v.history_date, v.history_id) < (row.history_date, row.history_id)]
        if earlier:
            previous[row.history_id] = earlier[-1]
    return previous


def _entry(record, label: str, previous) -> dict:
    changes = []
    if previous is not None:
        changes = [
            {"field": change.field, "old": change.old, "new": change.new}
            for change in record.diff_against(previous).changes
            if change.field not in HIDDEN_FIELDS
        ]
    return {
        "when": record.history_date,
        "who": record.history_user,
        "action": record.get_history_type_display(),
        "what": record.instance_type._meta.verbose_name,
        "record": label,
        "changes": changes,
    }


def patient_history(request, pk: int):
    patient = patient_for(request, pk, AccessLog.Action.HISTORY)
    histories = _histories(patient)
    page = Paginator(_page_keys(histories), CHANGES_PER_PAGE).get_page(request.GET.get("page"))
    reads = patient.access_log.select_related("user", "token")[:READS_SHOWN]
    return render(request, "monitoring/history.html", {
        "patient": patient, "changes": _entries(histories, list(page.object_list)), "page": page,
        "reads": reads, "reads_shown": READS_SHOWN,
    })


urlpatterns = [path("patients/<int:pk>/history/", patient_history, name="patient_history")]

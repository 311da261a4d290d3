"""Reads of patient data through the admin site are in the access log, like the app's own pages (issue 25).

Every admin list page of a patient-data model writes one LIST entry naming the patients on the
page; every change, delete-confirmation and history page writes one entry for the patient the
object belongs to. `PATIENT_PATHS` says, for each registered model, how an object leads to its
patient; `NOT_PATIENT_DATA` lists the registered models that hold none (tests/integration/
test_admin_audit.py fails if a model is registered in neither).
"""

from __future__ import annotations

from django.contrib.admin.utils import unquote

from monitoring import models
from monitoring.audit import record_access, record_list
from monitoring.models import AccessLog

PATIENT_PATHS: dict[type, str] = {
    models.Patient: "pk",
    models.CountResult: "patient_id",
    models.GcsfDose: "patient_id",
    models.TemperatureReading: "patient_id",
    models.TreatmentCourse: "patient_id",
    models.Cycle: "course__patient_id",
    models.Forecast: "cycle__course__patient_id",
    models.Alert: "patient_id",
    models.Delivery: "alert__patient_id",
    models.ImportException: "patient_id",
    models.AccessLog: "patient_id",
    models.TriageCall: "patient_id",
    models.AlertEscalation: "alert__patient_id",
    models.EscalationTimer: "alert__patient_id",
    models.RegistrationRequest: "patient_id",  # the patient registered from it (none while open)
}
NOT_PATIENT_DATA = {
    "monitoring.team", "monitoring.user", "monitoring.regimen", "monitoring.learnedprior", "monitoring.apitoken",
    "monitoring.heartbeat", "auth.group",
    # Rotas, escalation chains and the triage table (docs/on-duty.md): staff and rules, no patient.
    "monitoring.escalationchain", "monitoring.teamduty", "monitoring.dutycontact", "monitoring.shiftpattern",
    "monitoring.rotaoverride", "monitoring.triagesymptom",
    "axes.accessattempt", "axes.accesslog", "axes.accessfailurelog",  # django-axes' login records
}


class AuditedReadsAdmin:
    """ModelAdmin mixin: write an access-log entry for every page that shows this model's patient data."""

    def _patient_ids(self, pks) -> list[int]:
        path = PATIENT_PATHS[self.model]
        rows = self.model._default_manager.filter(pk__in=list(pks)).values_list(path, flat=True)
        return sorted({pk for pk in rows if pk is not None})

    def _record_object(self, request, object_id: str, action: str, response):
        if response.status_code < 400:
            patients = self._patient_ids([unquote(object_id)])
            record_access(request, patients[0] if patients else None, action)
        return response

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is not None:  # not a redirect after a bulk action, nor a refusal
            record_list(request, self._patient_ids(obj.pk for obj in changelist.result_list))
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        action = AccessLog.Action.FORM if request.method == "POST" else AccessLog.Action.VIEW
        return self._record_object(request, object_id, action,
                                   super().change_view(request, object_id, form_url, extra_context))

    def delete_view(self, request, object_id, extra_context=None):
        patients = self._patient_ids([unquote(object_id)])  # read before a confirmed delete removes it
        response = super().delete_view(request, object_id, extra_context)
        if response.status_code < 400:
            record_access(request, patients[0] if patients else None, AccessLog.Action.FORM)
        return response

    def history_view(self, request, object_id, extra_context=None):
        return self._record_object(request, object_id, AccessLog.Action.HISTORY,
                                   super().history_view(request, object_id, extra_context))

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        return self._record_object(request, object_id, AccessLog.Action.HISTORY,
                                   super().history_form_view(request, object_id, version_id, extra_context))

"""The nurses' upload page: import a results file (CSV, FHIR R4, HL7 v2) and see the report."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.shortcuts import render
from django.urls import path

from monitoring import importers
from monitoring.audit import record_list
from monitoring.models import AccessLog
from monitoring.models.results import Source


class UploadForm(forms.Form):
    file = forms.FileField(help_text="CSV, FHIR R4 JSON or HL7 v2 ORU^R01. A file with any problem imports nothing.")
    format = forms.ChoiceField(
        choices=[("", "Detect from the file"), ("csv", "CSV"), ("fhir", "FHIR R4 JSON"), ("hl7", "HL7 v2")],
        required=False,
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {settings.IMPORT_MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it."
            )
        return upload


def import_upload(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        # Another team's patient reads as an unknown MRN: the page does not reveal who exists elsewhere.
        scope = importers.Scope(team_ids=set(request.user.teams.values_list("pk", flat=True)), reveal=False)
        report = importers.import_file(
            upload.name, upload.read(), source=Source.IMPORT, fmt=form.cleaned_data["format"] or None,
            user=request.user, scope=scope,
        )
        record_list(request, [], AccessLog.Action.IMPORT)  # the report quotes the file's patients
    status = 400 if report is not None and not report.ok else 200
    return render(request, "monitoring/import.html", {"form": form, "report": report}, status=status)


urlpatterns = [
    path("import/", import_upload, name="import_upload"),
]

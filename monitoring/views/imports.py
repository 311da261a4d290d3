"""The nurses' upload page: import a results file (CSV, FHIR R4, HL7 v2) and see the report."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.shortcuts import render
from django.urls import path

from monitoring.audit import record_list
from monitoring.guards.text import RefuseControlCharacters
from monitoring.labfeed import importers
from monitoring.models import AccessLog
from monitoring.models.results import Source


class UploadForm(RefuseControlCharacters, forms.Form):
    file = forms.FileField(help_text="CSV, FHIR R4 JSON or HL7 v2 ORU^R01.")
    format = forms.ChoiceField(
        choices=[("", "Detect from the file"), ("csv", "CSV"), ("fhir", "FHIR R4 JSON"), ("hl7", "HL7 v2")],
        required=False,
    )
    all_or_nothing = forms.BooleanField(
        label="All or nothing", required=False, initial=True,
        help_text="Refuse the whole file if any row is bad (for a hand-made file you will correct). "
                  "Untick to store the good rows and keep the bad ones for review.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {settings.IMPORT_MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it."
            )
        return upload


def user_scope(user) -> importers.Scope:
    """The patients a user may import for; another team's patient reads as an unknown MRN.

    A record with an unknown MRN is shown to the user's team (when she has exactly one) and to her.
    """
    team_ids = set(user.teams.values_list("pk", flat=True))
    return importers.Scope(team_ids=team_ids, reveal=False, home_team_id=next(iter(team_ids)) if len(team_ids) == 1
                           else None, sender=f"upload by {user.get_username()}")


def import_upload(request):
    form = UploadForm(request.POST or None, request.FILES or None, initial={"all_or_nothing": True})
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        report = importers.import_file(
            upload.name, upload.read(), source=Source.IMPORT, fmt=form.cleaned_data["format"] or None,
            user=request.user, scope=user_scope(request.user), all_or_nothing=form.cleaned_data["all_or_nothing"],
        )
        record_list(request, [], AccessLog.Action.IMPORT)  # the report quotes the file's patients
    status = 400 if report is not None and report.refused else 200
    return render(request, "monitoring/import.html", {"form": form, "report": report}, status=status)


urlpatterns = [
    path("import/", import_upload, name="import_upload"),
]

"""The exceptions queue pages: records kept for review, and fixing, re-trying or dismissing each."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from monitoring.audit import record_access, record_list
from monitoring.guards.text import RefuseControlCharacters
from monitoring.labfeed import exceptions_queue
from monitoring.labfeed.importers import csv_format
from monitoring.models import AccessLog, ImportException
from monitoring.views import refuse

PAGE_SIZE = 100


class FixForm(RefuseControlCharacters, forms.Form):
    """The record's values, under the CSV import's column names; stored through the normal import path."""

    mrn = forms.CharField(max_length=64)
    collected_at = forms.CharField(max_length=40, label="Collected / taken / given at",
                                   help_text="ISO-8601, e.g. 2026-11-20T08:30 (add +00:00 near a clock change).")
    anc = forms.CharField(max_length=20, required=False, label="ANC", help_text="A number, or <0.1 / >50 as reported.")
    wbc = forms.CharField(max_length=20, required=False, label="WBC")
    neutrophil_pct = forms.CharField(max_length=20, required=False, label="Neutrophils %")
    band_pct = forms.CharField(max_length=20, required=False, label="Bands %")
    platelets = forms.CharField(max_length=20, required=False, label="Platelets", help_text="In the unit below.")
    unit = forms.CharField(max_length=20, required=False, help_text="10^9/L, 10^3/uL (K/uL) or cells/uL.")
    accession = forms.CharField(max_length=64, required=False)
    status = forms.ChoiceField(choices=[("", "final"), ("corrected", "corrected (replaces the stored result)")],
                               required=False)
    temperature = forms.CharField(max_length=20, required=False)
    temperature_unit = forms.CharField(max_length=5, required=False)
    temperature_site = forms.CharField(max_length=10, required=False)
    gcsf_product = forms.CharField(max_length=80, required=False, label="G-CSF product")
    gcsf_dose = forms.CharField(max_length=20, required=False, label="G-CSF dose")
    gcsf_dose_unit = forms.CharField(max_length=5, required=False, label="G-CSF dose unit")
    gcsf_route = forms.CharField(max_length=10, required=False, label="G-CSF route")


class DismissForm(RefuseControlCharacters, forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Why nothing will be stored (e.g. a test message, sent again correctly).")


def exception_list(request):
    status = request.GET.get("status", ImportException.Status.OPEN)
    found = exceptions_queue.visible_exceptions(request.user)
    if status in ImportException.Status.values:
        found = found.filter(status=status)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    record_list(request, (e.patient_id for e in page if e.patient_id is not None))
    return render(request, "monitoring/exceptions.html", {
        "page": page, "status": status, "statuses": ImportException.Status.choices,
    })


def _exception_for(request, pk: int, action: str = AccessLog.Action.VIEW) -> ImportException:
    """Return an exception the user may see and record the read; else record the refusal and 404."""
    exception = exceptions_queue.visible_exceptions(request.user).filter(pk=pk).first()
    if exception is None:
        refuse(request, pk, ImportException.objects.filter(pk=pk).values_list("patient_id", flat=True).first())
    if exception.patient_id is not None:
        record_access(request, exception.patient_id, action)
    return exception


def exception_detail(request, pk: int):
    exception = _exception_for(request, pk)
    fix_form = FixForm(initial={k: v for k, v in exception.values.items() if k in csv_format.COLUMNS})
    return _detail(request, exception, fix_form, DismissForm())


def _detail(request, exception, fix_form, dismiss_form, status: int = 200):
    history = exception.history.select_related("history_user").order_by("history_date")
    return render(request, "monitoring/exception.html", {
        "exception": exception, "fix_form": fix_form, "dismiss_form": dismiss_form, "history": history,
    }, status=status)


@require_POST
def exception_fix(request, pk: int):
    exception = _exception_for(request, pk, AccessLog.Action.FORM)
    form = FixForm(request.POST)
    if not form.is_valid():
        return _detail(request, exception, form, DismissForm(), status=400)
    outcome = exceptions_queue.fix(pk, form.cleaned_data, request.user)
    if not outcome.done:
        form.add_error(None, outcome.message)
        return _detail(request, exception, form, DismissForm(), status=400)
    messages.success(request, outcome.message)
    return redirect("import_exception", pk=pk)


@require_POST
def exception_retry(request, pk: int):
    _exception_for(request, pk, AccessLog.Action.FORM)
    outcome = exceptions_queue.retry(pk, request.user)
    (messages.success if outcome.done else messages.error)(request, outcome.message)
    return redirect("import_exception", pk=pk)


@require_POST
def exception_dismiss(request, pk: int):
    exception = _exception_for(request, pk, AccessLog.Action.FORM)
    form = DismissForm(request.POST)
    if not form.is_valid():
        fix_form = FixForm(initial=exception.values)
        return _detail(request, exception, fix_form, form, status=400)
    outcome = exceptions_queue.dismiss(pk, request.user, form.cleaned_data["reason"])
    (messages.success if outcome.done else messages.error)(request, outcome.message)
    return redirect("import_exception", pk=pk)


urlpatterns = [
    path("import/exceptions/", exception_list, name="import_exceptions"),
    path("import/exceptions/<int:pk>/", exception_detail, name="import_exception"),
    path("import/exceptions/<int:pk>/fix", exception_fix, name="import_exception_fix"),
    path("import/exceptions/<int:pk>/retry", exception_retry, name="import_exception_retry"),
    path("import/exceptions/<int:pk>/dismiss", exception_dismiss, name="import_exception_dismiss"),
]

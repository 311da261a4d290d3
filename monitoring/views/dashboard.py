"""Ward overview, patient page with charts, alert inbox with acknowledgement, cycle-summary CSV."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from monitoring import charts, lab_exceptions, selectors, services
from monitoring.audit import record_access
from monitoring.models import AccessLog
from monitoring.views import patient_for

RISK_CHOICES = [("", "Any risk"), ("high", "High"), ("medium", "Medium"), ("low", "Low")]
NOTE_MAX_LENGTH = 2000


def evidence_items(evidence: dict) -> list[tuple[str, str]]:
    """Return an alert's evidence as (label, value) pairs in words, units in the labels."""
    items = []
    for key, value in (evidence or {}).items():
        name, unit = str(key), ""
        for suffix, suffix_unit in (("_1e9_per_l", " (x10^9/L)"), ("_c", " (°C)"), ("_pct", " (%)")):
            if name.endswith(suffix):
                name, unit = name[: -len(suffix)], suffix_unit
        words = " ".join("ANC" if word == "anc" else word for word in name.split("_")) + unit
        if isinstance(value, float):
            value = f"{value:.3g}"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        items.append((words[:1].upper() + words[1:], str(value)))
    return items


def _with_evidence(alerts: list) -> list:
    for alert in alerts:
        alert.evidence_items = evidence_items(alert.evidence)
    return alerts


def _ward_filters(request, teams) -> selectors.WardFilters:
    """Read the ward filters from the query string, ignoring values that are not offered."""
    team = request.GET.get("team", "")
    team_id = int(team) if team.isdigit() and int(team) in {t.pk for t in teams} else None
    risk = request.GET.get("risk", "")
    return selectors.WardFilters(
        team_id=team_id,
        risk=risk if risk in selectors.RISK_LEVELS else "",
        only_open_alerts=request.GET.get("alerts") == "1",
        search=request.GET.get("q", "").strip()[:100],
    )


def ward(request):
    teams = list(request.user.teams.all())
    filters = _ward_filters(request, teams)
    now = timezone.now()
    rows = selectors.ward_rows(request.user, filters, now)
    context = {"rows": rows, "teams": teams, "filters": filters, "risk_choices": RISK_CHOICES, "now": now,
               "open_exceptions": lab_exceptions.open_count(request.user)}
    return render(request, "monitoring/ward.html", context)


def patient_detail(request, pk: int):
    patient = patient_for(request, pk)
    record_access(request, patient)
    now = timezone.now()
    page = selectors.patient_page(patient, now)
    charted = page.charted_cycles
    _with_evidence(page.open_alerts)
    context = {
        "page": page,
        "patient": patient,
        "cycle_charts": [
            {"cycle": c, "figure": charts.cycle_figure(c), "figure_id": f"fig-cycle-{c.cycle.pk}"} for c in charted
        ],
        "current_day": int(page.current.cycle.cycle_day(now)) if page.current else None,
        "timeline": charts.timeline_figure(page) if page.counts or charted else None,
        "overlay": charts.overlay_figure(page) if page.counts else None,
        "counts": list(reversed(page.counts)),
        "gcsf_doses": list(reversed(page.gcsf)),
        "temperatures": list(reversed(page.temperatures)),
        "note_max_length": NOTE_MAX_LENGTH,
        "open_exceptions": list(lab_exceptions.open_for_patient(patient)),
    }
    return render(request, "monitoring/patient.html", context)


def alerts(request):
    inbox = selectors.alert_inbox(request.user)
    _with_evidence(inbox["open"])
    return render(request, "monitoring/alerts.html", {**inbox, "note_max_length": NOTE_MAX_LENGTH})


@require_POST
def acknowledge(request, pk: int):
    """Acknowledge an alert of the user's teams; the note is optional but encouraged."""
    alert = get_object_or_404(selectors.visible_alerts(request.user).select_related("patient"), pk=pk)
    note = request.POST.get("note", "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        messages.error(request, f"The note is longer than {NOTE_MAX_LENGTH} characters; nothing was saved.")
    elif services.acknowledge_alert(alert.pk, request.user, note):
        messages.success(request, f"Alert for {alert.patient.mrn} acknowledged.")
    else:
        alert.refresh_from_db()
        who = alert.acknowledged_by or "someone else"
        messages.info(request, f"That alert was already acknowledged by {who}.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = "alerts"
    return redirect(target)


CSV_COLUMNS = [
    "mrn", "regimen", "cycle", "status", "day1", "delay_reason", "n_counts",
    "observed_nadir_anc_1e9_per_l", "observed_nadir_day", "observed_nadir_at", "worst_ctcae_grade",
    "first_predicted_nadir_anc_1e9_per_l", "latest_predicted_nadir_anc_1e9_per_l", "predicted_nadir_day",
    "predicted_p_grade4", "gcsf_given", "fever_episodes",
]


def _summary_row(patient, cycle: selectors.CycleData) -> list:
    nadir = cycle.observed_nadir
    forecast = cycle.forecast if cycle.forecast is not None and not cycle.forecast.error else None
    gcsf = ", ".join(
        f"{g.get_product_display().split(' (')[0]} {g.dose.normalize():f} {g.dose_unit} "
        f"{timezone.localtime(g.given_at):%Y-%m-%d %H:%M}"
        for g in cycle.gcsf
    )

    def number(value, digits=3):
        return "" if value is None else f"{value:.{digits}f}"

    return [
        patient.mrn, cycle.regimen.name, cycle.cycle.number, cycle.cycle.get_status_display(),
        f"{timezone.localtime(cycle.start):%Y-%m-%d %H:%M}", cycle.cycle.delay_reason, len(cycle.counts),
        number(nadir.anc_1e9_per_l) if nadir else "",
        f"{cycle.cycle.cycle_day(nadir.collected_at):.1f}" if nadir else "",
        f"{timezone.localtime(nadir.collected_at):%Y-%m-%d %H:%M}" if nadir else "",
        "" if cycle.worst_grade is None else cycle.worst_grade,
        number(forecast.first_nadir_anc_1e9_per_l) if forecast else "",
        number(forecast.nadir_anc_1e9_per_l) if forecast else "",
        number(forecast.nadir_day_of_cycle, 1) if forecast else "",
        number(forecast.p_grade4, 2) if forecast else "",
        gcsf, len(cycle.fever_episodes),
    ]


def _spreadsheet_safe(value):
    """Return `value` so a spreadsheet shows it as text, never runs it as a formula (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def cycle_summary_csv(request, pk: int):
    """Return the patient's per-cycle summary as CSV (times in the clinic's zone, ANC in 10^9/L)."""
    patient = patient_for(request, pk)
    record_access(request, patient, AccessLog.Action.EXPORT)
    page = selectors.patient_page(patient, timezone.now())
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{patient.mrn}-cycle-summary.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for cycle in page.cycles:
        if cycle.started:
            writer.writerow([_spreadsheet_safe(value) for value in _summary_row(patient, cycle)])
    return response


urlpatterns = [
    path("", ward, name="ward"),
    path("patients/<int:pk>/", patient_detail, name="patient"),
    path("patients/<int:pk>/cycle-summary.csv", cycle_summary_csv, name="cycle_summary_csv"),
    path("alerts/", alerts, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", acknowledge, name="alert_acknowledge"),
]

"""Ward overview, patient page with charts, alert inbox with acknowledgement, cycle-summary CSV."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from monitoring import charts, selectors, spreadsheet
from monitoring.alerts import evidence, lifecycle, presentation, quality, words
from monitoring.audit import record_access, record_list
from monitoring.guards import text
from monitoring.labfeed import exceptions_queue
from monitoring.models import AccessLog
from monitoring.views import drafts, patient_for, refuse, ward_cache

RISK_CHOICES = [("", "Any risk"), ("high", "High"), ("medium", "Medium"), ("low", "Low")]
NOTE_MAX_LENGTH = 2000
TABLE_ROWS = 100
# Antibiotics recorded this long before the alert are a typing error, not an early dose.
ANTIBIOTICS_BEFORE_ALERT_LIMIT = timedelta(hours=24)


def _present(alerts: list, now) -> list:
    """Attach what the pages say about each alert: headline, next step, evidence in words.

    The evidence that raised it and, when it has changed since, the latest beside it; whether it
    is in hand (acknowledged while the condition lasts) or cleared.
    """
    for alert in alerts:
        text = presentation.kind_text(alert.kind, alert.title)
        alert.text = text
        alert.headline = presentation.headline(alert, now)
        alert.evidence_lines = evidence.evidence_lines(alert.evidence, now)
        latest = alert.latest_evidence if alert.latest_evidence and alert.latest_evidence != alert.evidence else {}
        alert.latest_lines = evidence.evidence_lines(latest, now) if latest else []
        alert.latest_words = words.when(alert.latest_at, now) if alert.latest_at else ""
        alert.raised_words = words.when(alert.raised_at, now)
        alert.in_hand_words = presentation.in_hand_words(alert, now) if alert.resolved_at is None else ""
        # Not acknowledged yet, but given on the alert it replaced (a worse febrile neutropenia).
        alert.antibiotics_words = "" if alert.acknowledged_at else presentation.antibiotics_words(alert, now)
        alert.cleared_words = presentation.cleared_words(alert, now)
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
    # Drawn at most once a second for everyone who sees these teams, never older than her own change.
    rows = ward_cache.ward_rows(request, teams, filters, now)
    record_list(request, rows.patient_ids)
    context = {"lines": rows, "teams": teams, "filters": filters,
               "risk_choices": RISK_CHOICES, "now": now,
               "refresh_seconds": settings.WARD_REFRESH_SECONDS,
               "forecast_updating": rows.forecast_updating,
               "open_exceptions": exceptions_queue.open_count(request.user)}
    # htmx asks every 30 s for the rows only; the filters stay in the URL it asks with.
    template = "monitoring/_ward_rows.html" if request.headers.get("HX-Request") else "monitoring/ward.html"
    response = render(request, template, context)
    # Drawing the shared rows ahead, once this nurse has her page (HttpResponse.close() runs these
    # once the body is sent: gunicorn, runserver and the test client all close the response).
    response._resource_closers.extend(rows.after_response)
    return response


def patient_detail(request, pk: int):
    patient = patient_for(request, pk)
    now = timezone.now()
    page = selectors.patient_page(patient, now)
    charted = page.charted_cycles
    for alert in page.open_alerts:
        alert.patient = patient  # the same patient: no query per alert for its phone and nurse
    _present(page.open_alerts, now)
    drafts.give_back_ack_drafts(request, page.open_alerts)
    context = {
        "page": page,
        "patient": patient,
        "cycle_charts": [
            {"cycle": c, "figure": charts.cycle_figure(c, now), "figure_id": f"fig-cycle-{c.cycle.pk}"} for c in charted
        ],
        "current_day": page.current.cycle.cycle_day(now) if page.current else None,
        "timeline": charts.timeline_figure(page, now) if page.counts or charted else None,
        "overlay": charts.overlay_figure(page, now) if page.counts else None,
        "last_count_since": words.since(page.last_count.collected_at, now) if page.counts else "",
        # Newest first, TABLE_ROWS a page: a patient with 90,000 results still gets a small page.
        "counts": _table_page(request, page.counts, "counts_page"),
        "gcsf_doses": _table_page(request, page.gcsf, "gcsf_page"),
        "temperatures": _table_page(request, page.temperatures, "temperatures_page"),
        "note_max_length": NOTE_MAX_LENGTH,
        "open_exceptions": list(exceptions_queue.open_for_patient(patient)),
    }
    return render(request, "monitoring/patient.html", context)


def _table_page(request, rows: list, param: str):
    """Return one page (newest first) of a patient-page table; `param` names its page in the URL."""
    table = Paginator(rows[::-1], TABLE_ROWS).get_page(request.GET.get(param))
    table.param = param
    return table


def alerts(request):
    inbox = selectors.alert_inbox(request.user)
    record_list(request, (a.patient_id for a in inbox["open"] + inbox["in_hand"] + inbox["history"]
                          if a.patient_id is not None))
    _present(inbox["open"] + inbox["in_hand"], timezone.now())
    drafts.give_back_ack_drafts(request, inbox["open"])
    return render(request, "monitoring/alerts.html", {**inbox, "note_max_length": NOTE_MAX_LENGTH})


def alert_quality_page(request):
    """Per team, the last 30 or 90 days: how alerts were raised and answered."""
    days = int(request.GET["days"]) if request.GET.get("days") in {"30", "90"} else 30
    now = timezone.now()
    context = {"teams": quality.alert_quality(request.user, days, now), "days": days,
               "periods": quality.PERIOD_DAYS, "target_minutes": presentation.FN_ANTIBIOTIC_TARGET_MINUTES}
    return render(request, "monitoring/alert_quality.html", context)


def _antibiotics_time(request, alert) -> tuple[datetime | None, str]:
    """Return (the time antibiotics were given or None, an error in words or "")."""
    text = request.POST.get("antibiotics_given_at", "").strip()
    if not text:
        return None, ""
    try:
        moment = timezone.make_aware(datetime.strptime(text, "%Y-%m-%dT%H:%M"))
    except ValueError:
        return None, f"Antibiotics given at: {text!r} is not a date and time (yyyy-mm-dd hh:mm)."
    if moment > timezone.now() + timedelta(minutes=5):
        return None, "Antibiotics given at: this time is in the future."
    if moment < alert.raised_at - ANTIBIOTICS_BEFORE_ALERT_LIMIT:
        return None, "Antibiotics given at: this is more than a day before the alert; check the date."
    return moment, ""


def _way_back(request) -> str:
    """Return the page an alert form was sent from (`next`): a path of this site, else the alert inbox.

    Only a path: `redirect()` would take any other word for a URL name ("logout") or fail on one
    that needs arguments ("patient", a 500).
    """
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, {request.get_host()},
                                                                 require_https=request.is_secure()):
        return target
    return reverse("alerts")


@require_POST
def acknowledge(request, pk: int):
    """Acknowledge an alert of the user's teams; the note is optional but encouraged."""
    alert = selectors.visible_alerts(request.user).select_related("patient").filter(pk=pk).first()
    if alert is None:
        refuse(request, pk)
    if alert.patient_id is not None:  # an unregistered MRN's alert names no patient record
        record_access(request, alert.patient_id, AccessLog.Action.FORM)
    note = request.POST.get("note", "").strip()
    antibiotics_at, problem = _antibiotics_time(request, alert)
    if len(note) > NOTE_MAX_LENGTH:
        problem = f"The note is longer than {NOTE_MAX_LENGTH} characters."
    elif (char := text.control_character(note, multiline=True)) is not None:
        problem = f"Note: {text.refusal(char)}"
    if problem:
        messages.error(request, f"{problem} Nothing was saved; what you typed is still in the form.")
        drafts.keep_ack_draft(request, alert.pk, {"note": note, "problem": problem,
                                                  "antibiotics_given_at": request.POST.get("antibiotics_given_at", "")})
    elif lifecycle.acknowledge_alert(alert.pk, request.user, note, antibiotics_given_at=antibiotics_at):
        messages.success(request, f"Alert for {alert.mrn} acknowledged.")
    else:
        alert.refresh_from_db()
        who = alert.acknowledged_by or "someone else"
        messages.info(request, f"That alert was already acknowledged by {who}.")
    return redirect(_way_back(request))


@require_POST
def record_antibiotics(request, pk: int):
    """Record when antibiotics were given for an alert, acknowledged or not (issue 21 item 1)."""
    alert = selectors.visible_alerts(request.user).select_related("patient").filter(pk=pk).first()
    if alert is None:
        refuse(request, pk)
    if alert.patient_id is not None:  # an unregistered MRN's alert names no patient record
        record_access(request, alert.patient_id, AccessLog.Action.FORM)
    antibiotics_at, problem = _antibiotics_time(request, alert)
    if problem or antibiotics_at is None:
        messages.error(request, f"{problem or 'Antibiotics given at: enter a date and time.'} Nothing was saved.")
    else:
        lifecycle.record_antibiotics(alert.pk, request.user, antibiotics_at)
        messages.success(request, f"Antibiotic time recorded for {alert.mrn}.")
    return redirect(_way_back(request))


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
        (nadir.anc_display if nadir.qualifier else number(nadir.anc_1e9_per_l)) if nadir else "",  # "<0.1" as received
        cycle.cycle.cycle_day(nadir.collected_at) if nadir else "",
        f"{timezone.localtime(nadir.collected_at):%Y-%m-%d %H:%M}" if nadir else "",
        "" if cycle.worst_grade is None else cycle.worst_grade,
        number(forecast.first_nadir_anc_1e9_per_l) if forecast else "",
        number(forecast.nadir_anc_1e9_per_l) if forecast else "",
        cycle.cycle.cycle_day(forecast.nadir_at) if forecast and forecast.nadir_at else "",
        number(forecast.p_grade4, 2) if forecast else "",
        gcsf, len(cycle.fever_episodes),
    ]


def cycle_summary_csv(request, pk: int):
    """Return the patient's per-cycle summary as CSV (times in the clinic's zone, ANC in 10^9/L)."""
    patient = patient_for(request, pk, AccessLog.Action.EXPORT)
    page = selectors.patient_page(patient, timezone.now())
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = spreadsheet.attachment(f"{patient.mrn}-cycle-summary.csv")
    writer = spreadsheet.writer(response)
    writer.writerow(CSV_COLUMNS)
    for cycle in page.cycles:
        if cycle.started:
            writer.writerow(_summary_row(patient, cycle))
    return response


urlpatterns = [
    path("", ward, name="ward"),
    path("patients/<int:pk>/", patient_detail, name="patient"),
    path("patients/<int:pk>/cycle-summary.csv", cycle_summary_csv, name="cycle_summary_csv"),
    path("alerts/", alerts, name="alerts"),
    path("alerts/quality/", alert_quality_page, name="alert_quality"),
    path("alerts/<int:pk>/acknowledge/", acknowledge, name="alert_acknowledge"),
    path("alerts/<int:pk>/antibiotics/", record_antibiotics, name="alert_antibiotics"),
]

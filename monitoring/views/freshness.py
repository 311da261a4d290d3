"""Freshness you can see (issue 22): the small answers the patient page polls while its forecast is recomputed.

The patient page shows "forecast updating" while the current cycle's forecast is older than its
latest input (`selectors.freshness`), and asks here every second. Until the worker has stored the
new forecast the answer is the same notice; then it is the new forecast itself (the header's
nadir and readiness, and the current cycle's chart), swapped into the page by htmx, and the
polling stops. Each answer is a read of the patient's record and is logged as one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from monitoring import charts, selectors
from monitoring.models import Cycle
from monitoring.selectors.freshness import forecast_state
from monitoring.views import patient_for

# How soon the page asks again while the forecast is being recomputed: with the worker's own time,
# the new forecast is on the screen within about this long after it is stored.
POLL_SECONDS = 1
# A recompute takes a second or two. After this many polls (about 2 minutes) something is wrong
# (the worker is down, or the queue is long): the page says so and asks less often.
SLOW_AFTER_POLLS = 120
SLOW_POLL_SECONDS = 15


def patient_forecast(request, pk: int):
    """Return the forecast notice, or the fresh forecast (header and current chart) to swap in."""
    patient = patient_for(request, pk)
    now = timezone.now()
    polls = int(request.GET["n"]) + 1 if request.GET.get("n", "").isdigit() else 1
    slow = polls >= SLOW_AFTER_POLLS
    waiting = _still_updating(patient, now)
    if waiting is not None:
        # Most answers: the worker has not stored the forecast yet. Two queries, not the whole page.
        return render(request, "monitoring/_forecast_freshness.html", {
            "patient": patient, "current": waiting, "polls": polls, "slow": slow,
            "poll_seconds": SLOW_POLL_SECONDS if slow else POLL_SECONDS,
            "shown_alerts": request.GET.get("alerts", "")})
    page = selectors.patient_page(patient, now)
    current = page.current
    if current is not None and not current.forecast_state and _alerts_changed(request, page):
        # The worker stored the forecast and, with it, raised or resolved alerts: the cards differ
        # too, so the page is drawn again whole (htmx reloads it on this header).
        return HttpResponse(headers={"HX-Refresh": "true"})
    context = {"patient": patient, "page": page, "current": current, "oob": True, "polls": polls, "slow": slow,
               "poll_seconds": SLOW_POLL_SECONDS if slow else POLL_SECONDS,
               "shown_alerts": request.GET.get("alerts", "")}
    if current is not None and not current.forecast_state:
        charted = page.charted_cycles
        context["first_chart"] = _chart(charted[0], now) if charted else None
        if page.counts or charted:
            context["timeline_json"] = _json(charts.timeline_figure(page, now))
            context["timeline"] = True
        if page.counts:
            context["overlay_json"] = _json(charts.overlay_figure(page, now))
            context["overlay"] = True
    return render(request, "monitoring/_forecast_live.html", context)


@dataclass(frozen=True)
class _Waiting:
    """The current cycle's forecast state, as _forecast_freshness.html reads it."""

    forecast_state: str


def _still_updating(patient, now) -> _Waiting | None:
    """Return the current cycle's state if its forecast is still being recomputed, else None.

    The current cycle as `selectors.patient_page` finds it (`selectors.current_cycle`), and the same
    rule (`selectors.forecast_state`); a fresh forecast is answered from the whole page below.
    """
    cycle = selectors.current_cycle(patient, now, cycles=Cycle.objects.select_related("forecast"))
    state = forecast_state(cycle, getattr(cycle, "forecast", None)) if cycle else ""
    return _Waiting(state) if state else None


def _alerts_changed(request, page: selectors.PatientPage) -> bool:
    """Return whether the open alerts differ from those the page was drawn with (`?alerts=3,7`)."""
    shown = {int(pk) for pk in request.GET.get("alerts", "").split(",") if pk.isdigit()}
    return shown != {alert.pk for alert in page.open_alerts}


def _json(figure: dict) -> str:
    return json.dumps(figure, cls=DjangoJSONEncoder)


def _chart(cycle: selectors.CycleData, now) -> dict:
    """Return the first chart as the page draws it, its figure as JSON text for an attribute."""
    figure = charts.cycle_figure(cycle, now)
    return {"cycle": cycle, "figure": figure, "figure_id": f"fig-cycle-{cycle.cycle.pk}",
            "figure_json": _json(figure)}


urlpatterns = [
    path("patients/<int:pk>/forecast/", patient_forecast, name="patient_forecast"),
]

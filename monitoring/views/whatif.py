"""The patient page's what-if table and chart overlay (issue 23), fetched by the page after it is drawn
(issue 22: the first screen does not wait for a fit and ten scenarios); and a scenario applied as a
cycle's plan, an oncologist's action with a confirm step. Reads of the patient's record, logged."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from monitoring import charts, selectors, treatment
from monitoring.forecasts.whatif.scenarios import cycle_scenarios
from monitoring.models import AccessLog, Cycle, Patient
from monitoring.views import patient_for


@dataclass(frozen=True)
class _Current:
    """What _whatif_table.html reads of the current cycle (the patient page's CycleData has more)."""

    cycle: Cycle
    started: bool


def _current_and_next(patient: Patient, now) -> tuple[Cycle | None, Cycle | None]:
    """Return the patient's current cycle and the one after it in the course (either may be None)."""
    course = selectors.active_course(patient, Cycle.objects.prefetch_related("administrations"))
    courses = [course] if course is not None else []
    current = selectors.current_cycle(patient, now, courses=courses)
    if current is None:
        return None, None
    following = next((c for c in selectors.active_cycles(courses) if c.number == current.number + 1), None)
    return current, following


def _apply_links(request, current: Cycle, following: Cycle | None, now) -> dict:
    """Return, for an oncologist, {(cycle "current"/"next", key): query string} of the scenarios still open."""
    if not request.user.can_change_treatment:
        return {}
    links = {}
    for which, cycle in (("current", current), ("next", following)):
        if cycle is None:
            continue
        stamp = treatment.plan_stamp(cycle)
        for key in treatment.open_scenarios(cycle, current.pk, now):
            links[f"{which}:{key}"] = f"cycle={cycle.pk}&scenario={key}&stamp={stamp}&current={current.pk}"
    return links


def patient_whatif(request, pk: int):
    """Return the current cycle's what-if table and its chart overlay (empty without a cycle under way)."""
    patient = patient_for(request, pk)
    now = timezone.now()
    current, following = _current_and_next(patient, now)
    context = {"patient": patient, "page": {"current": None}}
    if current is not None:
        started = current.status == Cycle.Status.GIVEN or bool(current.administrations.all())
        whatif = cycle_scenarios(current, now)
        context.update(page={"current": _Current(cycle=current, started=started)}, whatif=whatif,
                       apply_links=_apply_links(request, current, following, now) if whatif else {},
                       overlay=json.dumps(charts.scenario_traces(whatif)) if whatif else "")
    return render(request, "monitoring/_whatif_table.html", context)


def _int(request, name: str) -> int | None:
    try:
        return int(request.POST.get(name) or request.GET.get(name) or "")
    except ValueError:
        return None


@require_http_methods(["GET", "POST"])
def apply_scenario(request, pk: int):
    """Show what applying a scenario would change (GET), then apply it (POST). Oncologists only."""
    patient = patient_for(request, pk, AccessLog.Action.FORM)   # team-scoped, the read logged
    if not request.user.can_change_treatment:
        raise PermissionDenied("Only oncologists and administrators change a cycle's plan.")
    cycle_id, stamp, current_id = _int(request, "cycle"), _int(request, "stamp"), _int(request, "current")
    cycle = (Cycle.objects.select_related("course__regimen", "course__patient")
             .filter(pk=cycle_id, course__patient=patient).first()) if cycle_id is not None else None
    key = request.POST.get("scenario") or request.GET.get("scenario") or ""
    try:
        change = treatment.describe(cycle, key) if cycle is not None else None
    except ValueError:
        change = None
    if change is None or stamp is None or current_id is None:   # not a link from the what-if table
        return render(request, "monitoring/whatif_apply.html", {"patient": patient, "change": None},
                      status=400 if request.method == "POST" else 200)
    if request.method == "POST":
        try:
            applied = treatment.apply_scenario(cycle, key, stamp=stamp, current_id=current_id, user=request.user)
        except treatment.PlanMovedOn as exc:
            return render(request, "monitoring/whatif_apply.html",
                          {"patient": patient, "change": change, "error": str(exc)}, status=409)
        if applied:
            messages.success(request, f"Applied: {change.words} The forecast is being recomputed with this plan; "
                                      "the chart and the what-if table show it when it is ready.")
        else:
            messages.info(request, f"This plan was already applied to cycle {cycle.number}: nothing changed.")
        return redirect(patient)
    return render(request, "monitoring/whatif_apply.html",
                  {"patient": patient, "change": change, "stamp": stamp, "current_id": current_id})


urlpatterns = [
    path("patients/<int:pk>/whatif/", patient_whatif, name="patient_whatif"),
    path("patients/<int:pk>/whatif/apply/", apply_scenario, name="whatif_apply"),
]

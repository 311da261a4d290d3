"""The rota page (see and edit who is on duty) and the telephone triage call."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from monitoring.alerts import chains
from monitoring.audit import record_list
from monitoring.duty import rota
from monitoring.models import AccessLog, EscalationChain, RotaOverride, ShiftPattern, Team, TeamDuty, TriageSymptom
from monitoring.models.duty import StepTarget
from monitoring.triage import calls
from monitoring.views import lookups, patient_for, refuse
from monitoring.views.duty_forms import OverrideForm, PatternForm, TriageCallForm

UPCOMING_OVERRIDES = 50


def _team_for(request, pk: int) -> Team:
    """Return a team of the user's (administrators see every team); 404 otherwise."""
    teams = Team.objects.all() if request.user.is_administrator else request.user.teams.all()
    team = teams.filter(pk=pk).first()
    if team is None:
        refuse(request, pk)  # recorded, and 404 whether the team exists or not
    return team


def can_edit_rota(user, team: Team) -> bool:
    """Return True for administrators and the team's leads."""
    if user.is_administrator:
        return True
    return TeamDuty.objects.filter(team=team, leads=user).exists()


def rota_page(request, pk: int):
    return render(request, "monitoring/duty/rota.html", _rota_context(request, _team_for(request, pk)))


def _rota_context(request, team: Team, **forms) -> dict:
    """Return the rota page's context; `forms` replace the blank forms (an invalid one, re-shown)."""
    now = timezone.now()
    return {
        "team": team, "editable": can_edit_rota(request.user, team), "now": now,
        "on_duty": rota.on_duty_until_off(team, now),
        "week": rota.week(team),
        "overrides": RotaOverride.objects.filter(team=team, ends_at__gt=now)
        .select_related("user", "replaces")[:UPCOMING_OVERRIDES],
        "chains": [(c, [(step["after_minutes"], StepTarget(step["target"]).label) for step in chains.snapshot(c)])
                   for c in EscalationChain.objects.filter(team=team).prefetch_related("steps")],
        "duty": TeamDuty.objects.filter(team=team).first(),
        "pattern_form": PatternForm(team=team), "override_form": OverrideForm(team=team), **forms,
    }


def _editable_team(request, pk: int) -> Team:
    team = _team_for(request, pk)
    if not can_edit_rota(request.user, team):
        raise PermissionDenied("Only the team's leads and administrators edit its rota.")
    return team


@require_POST
def pattern_add(request, pk: int):
    team = _editable_team(request, pk)
    form = PatternForm(request.POST, team=team)
    if not form.is_valid():
        return _rota_with_errors(request, team, pattern_form=form)
    ShiftPattern.objects.bulk_create(form.rows())
    messages.success(request, "Shift added to the rota.")
    return redirect("rota", pk=team.pk)


@require_POST
def override_add(request, pk: int):
    team = _editable_team(request, pk)
    form = OverrideForm(request.POST, team=team)
    if not form.is_valid():
        return _rota_with_errors(request, team, override_form=form)
    form.instance.created_by = request.user
    form.save()
    messages.success(request, "Cover added to the rota.")
    return redirect("rota", pk=team.pk)


@require_POST
def rota_row_delete(request, pk: int, kind: str, row: int):
    team = _editable_team(request, pk)
    model = {"pattern": ShiftPattern, "override": RotaOverride}.get(kind)
    if model is None or not model.objects.filter(team=team, pk=row).delete()[0]:
        raise Http404("No such rota entry.")
    messages.success(request, "Removed from the rota.")
    return redirect("rota", pk=team.pk)


def _rota_with_errors(request, team: Team, **forms):
    return render(request, "monitoring/duty/rota.html", _rota_context(request, team, **forms), status=400)


def triage_call(request, pk: int):
    patient = patient_for(request, pk, AccessLog.Action.FORM)
    symptoms = TriageSymptom.objects.filter(active=True)
    form = TriageCallForm(request.POST or None, symptoms=symptoms)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            call = calls.record_call(patient, calls.CallInput(grades=form.grades(), temperature_c=data["temperature"],
                                                              caller=data["caller"], advice=data["advice"]),
                                     user=request.user)
        level = messages.ERROR if call.outcome == call.Outcome.ASSESS_NOW else messages.SUCCESS
        messages.add_message(request, level, f"Triage call recorded: {call.get_outcome_display()}."
                             + (" A critical alert has gone to the person on duty." if call.alert_id else ""))
        return redirect(patient)
    context = {"patient": patient, "form": form, "context": calls.context(patient, timezone.now()),
               "calls": patient.triage_calls.prefetch_related("grades").select_related("taken_by")[:10]}
    return render(request, "monitoring/duty/triage_call.html", context, status=400 if form.errors else 200)


def follow_ups(request):
    """The open triage follow-up calls of the user's teams, soonest first (a list read, on the record)."""
    due = calls.open_follow_ups(request.user, timezone.now())
    record_list(request, (call.patient_id for call in due))
    return render(request, "monitoring/duty/follow_ups.html", {"calls": due, "now": timezone.now()})


@require_POST
def follow_up_done(request, pk: int):
    # The same statements whether the call is another team's or missing (no existence oracle).
    call = lookups.team_record(request, calls.TriageCall.objects.select_related("patient"), pk,
                               lambda call: call.patient)
    calls.close_follow_up(call.pk, timezone.now())
    messages.success(request, "Follow-up call marked as made.")
    return redirect("triage_follow_ups")


urlpatterns = [
    path("teams/<int:pk>/rota/", rota_page, name="rota"),
    path("teams/<int:pk>/rota/patterns/", pattern_add, name="rota_pattern_add"),
    path("teams/<int:pk>/rota/overrides/", override_add, name="rota_override_add"),
    path("teams/<int:pk>/rota/<str:kind>/<int:row>/delete/", rota_row_delete, name="rota_row_delete"),
    path("patients/<int:pk>/triage/", triage_call, name="triage_call"),
    path("triage/follow-ups/", follow_ups, name="triage_follow_ups"),
    path("triage/<int:pk>/follow-up-done/", follow_up_done, name="triage_follow_up_done"),
]

"""GET /api/v1/patients/<mrn>/risk-assessments: the current cycle's forecast and what-if scenarios as FHIR.

Bearer token as for the results API (monitoring/views/api.py), scoped to the token's teams: a
patient outside them is answered exactly like one that does not exist (404), so a token learns
nothing about other teams' patients. Answers application/fhir+json: a searchset Bundle of R4
RiskAssessment resources (monitoring/forecasts/whatif/fhir.py; docs/forecasting.md).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from monitoring import selectors
from monitoring.audit import record_access, record_refusal
from monitoring.forecasts.whatif.fhir import risk_assessment_bundle
from monitoring.forecasts.whatif.scenarios import cycle_scenarios
from monitoring.models import AccessLog, ApiToken, Cycle, Patient
from monitoring.views.api import token_or_refusal

FHIR_JSON = "application/fhir+json"


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@login_not_required
def risk_assessments(request, mrn: str):
    token, refusal = token_or_refusal(request, "GET", "use GET")
    if refusal is not None:
        return refusal
    # The same statements whether the MRN is another team's or nobody's (no existence oracle, by timing
    # either): the token's teams, the patient, and the refusal on the record with the token that asked.
    team_ids = set(token.teams.values_list("pk", flat=True))
    patient = Patient.objects.filter(mrn=mrn).first()
    if patient is None or patient.team_id not in team_ids:
        record_refusal(request, patient.pk if patient else None, patient.pk if patient else None, token=token)
        return _error(404, f"no patient with MRN {mrn!r} in this token's teams")
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    cycle = selectors.current_cycle(patient, now, cycles=Cycle.objects.select_related("forecast"))
    scenarios = cycle_scenarios(cycle, now) if cycle is not None else None
    record_access(request, patient, AccessLog.Action.API_READ, token=token)
    return JsonResponse(risk_assessment_bundle(patient, cycle, scenarios), content_type=FHIR_JSON)


urlpatterns = [
    path("api/v1/patients/<str:mrn>/risk-assessments", risk_assessments, name="api_risk_assessments"),
]

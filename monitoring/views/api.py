"""The results API: POST /api/v1/results with a FHIR R4, CSV or HL7 v2 body and a bearer token.

Tokens are per integration, stored hashed, scoped to teams and revocable (see ApiToken).
Record by record: each record is stored or kept for review in the exceptions queue.
Answers are JSON: 201 something stored (bad records, if any, listed under "kept"), 200 nothing
new (a re-sent file), 202 nothing stored but records kept for review, 400 the body cannot be
read at all (nothing stored), 401 no or bad token, 405, 413 body too large, 415 unknown content
type. A patient outside the token's teams is answered exactly as an unknown MRN (kept for review
in the token's team, "not found in your teams"): the API tells no one which MRNs exist elsewhere.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from monitoring.audit import record_list
from monitoring.labfeed import importers
from monitoring.models import AccessLog, ApiToken
from monitoring.models.results import Source

CONTENT_TYPES = {
    "application/fhir+json": "fhir",
    "application/json": "fhir",
    "text/csv": "csv",
    "application/csv": "csv",
    "x-application/hl7-v2+er7": "hl7",
    "application/hl7-v2": "hl7",
}


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def authenticated_token(request) -> ApiToken | None:
    """Return the live token named by the Authorization: Bearer header, or None."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        return None
    return ApiToken.objects.filter(token_hash=ApiToken.hash(raw), revoked_at__isnull=True).first()


def token_or_refusal(request, method: str, use: str) -> tuple[ApiToken | None, JsonResponse | None]:
    """Return (the request's token, None), or (None, the 401 or 405 answer).

    Authentication comes before anything else, so an anonymous caller learns nothing, not even the
    method; `use` says in the 405 answer how to call the endpoint.
    """
    token = authenticated_token(request)
    if token is None:
        response = _error(401, "send a valid API token: Authorization: Bearer <token>")
        response["WWW-Authenticate"] = 'Bearer realm="neutrowatch"'
        return None, response
    if request.method != method:
        response = _error(405, use)
        response["Allow"] = method
        return None, response
    return token, None


def _body(request) -> bytes | None:
    """Return the request body, or None if it is larger than API_MAX_BODY_BYTES."""
    limit = settings.API_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)  # not request.body: that would apply the form-data limit instead
    return None if len(body) > limit else body


@csrf_exempt
@login_not_required
def results(request):
    token, refusal = token_or_refusal(request, "POST",
                                      "use POST with a FHIR (application/fhir+json) or CSV (text/csv) body")
    if refusal is not None:
        return refusal
    fmt = CONTENT_TYPES.get(request.content_type)
    if fmt is None:
        return _error(415, f"unsupported content type {request.content_type!r}; use one of {sorted(CONTENT_TYPES)}")
    body = _body(request)
    if body is None:
        return _error(413, f"the body is larger than {settings.API_MAX_BODY_BYTES} bytes; send smaller batches")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    team_ids = set(token.teams.values_list("pk", flat=True))
    # reveal=False: another team's MRN is kept for review exactly as an unknown one (no existence oracle).
    scope = importers.Scope(team_ids=team_ids, reveal=False, sender=f"API token {token.name} ({token.prefix}…)",
                            home_team_id=next(iter(team_ids)) if len(team_ids) == 1 else None)
    report = importers.import_file("request body", body, source=Source.API, fmt=fmt, scope=scope)
    record_list(request, [], AccessLog.Action.IMPORT, token=token)  # the answer quotes the body's patients
    if report.forbidden:
        return _error(403, "the body names patients outside this token's teams; nothing was imported",
                      **report.as_dict())
    if report.refused:
        return _error(400, "the body cannot be read; nothing was imported", **report.as_dict())
    status = 201 if report.changed else 202 if report.kept else 200
    return JsonResponse(report.as_dict(), status=status)


urlpatterns = [
    path("api/v1/results", results, name="api_results"),
]

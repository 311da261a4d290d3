"""POST /api/v1/results: bearer tokens, team scope, size limit, idempotency, JSON errors."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from monitoring.models import ApiToken, CountResult
from monitoring.models.results import Source

pytestmark = pytest.mark.django_db
URL = "/api/v1/results"


@pytest.fixture
def token(team) -> str:
    _, raw = ApiToken.issue("lab", [team])
    return raw


def _when(days: float = 1) -> str:
    return timezone.localtime(timezone.now() - timedelta(days=days)).isoformat(timespec="seconds")


def _observation(mrn: str = "MRN001", obs_id: str = "anc-1", value: float = 0.8) -> str:
    return json.dumps({
        "resourceType": "Observation", "id": obs_id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
        "subject": {"identifier": {"value": mrn}}, "effectiveDateTime": _when(),
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "10*3/uL"},
    })


def _post(client, body: str, token: str | None, content_type: str = "application/fhir+json"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(URL, body, content_type=content_type, headers=headers)


def test_fhir_post_creates_then_is_idempotent(client, patient, token):
    first = _post(client, _observation(), token)
    assert first.status_code == 201, first.json()
    assert first.json()["created"]["counts"] == 1
    again = _post(client, _observation(), token)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    stored = CountResult.objects.get()
    assert (stored.source, stored.accession) == (Source.API, "Observation/anc-1")
    assert ApiToken.objects.get().last_used_at is not None


def test_csv_post(client, patient, token):
    body = f"mrn,collected_at,anc,unit,accession\nMRN001,{_when()},1.4,K/uL,ACC-1\n"
    response = _post(client, body, token, content_type="text/csv")
    assert response.status_code == 201
    assert CountResult.objects.get().accession == "ACC-1"


def test_no_token_bad_token_and_revoked_token_are_401(client, patient, token):
    assert _post(client, _observation(), None).status_code == 401
    bad = _post(client, _observation(), "nw_not-a-real-token")
    assert bad.status_code == 401 and bad["WWW-Authenticate"].startswith("Bearer")
    assert "token" in bad.json()["error"]
    ApiToken.objects.update(revoked_at=timezone.now())
    assert _post(client, _observation(), token).status_code == 401
    assert not CountResult.objects.exists()


def test_patient_outside_the_tokens_teams_is_answered_as_an_unknown_mrn(client, patient, other_patient, token):
    """Issue 25: 403 for another team's MRN and 202 for an unknown one told the sender which MRNs exist."""
    response = _post(client, _observation(mrn="MRN999"), token)
    assert response.status_code == 202
    assert response.json()["problems"][0]["field"] == "mrn"
    assert "unknown MRN" in response.json()["problems"][0]["reason"]
    assert not CountResult.objects.exists()


def test_bad_record_is_kept_for_review_and_unreadable_body_is_400(client, patient, token):
    response = _post(client, _observation(value=3000), token)
    assert response.status_code == 202
    body = response.json()
    assert body["stored"] == 0 and body["kept_for_review"] == 1 and "cells/uL" in body["problems"][0]["reason"]
    assert body["kept"][0]["exception_id"]
    assert _post(client, "{not json", token).status_code == 400
    unknown = _post(client, _observation(mrn="NOBODY"), token)
    assert unknown.status_code == 202 and "unknown MRN" in unknown.json()["problems"][0]["reason"]


def test_oversized_body_is_413(client, patient, token, settings):
    settings.API_MAX_BODY_BYTES = 200
    response = _post(client, _observation() + " " * 500, token)
    assert response.status_code == 413 and "larger" in response.json()["error"]


def test_wrong_method_and_content_type(client, token):
    assert client.get(URL, headers={"Authorization": f"Bearer {token}"}).status_code == 405
    assert _post(client, "<xml/>", token, content_type="application/xml").status_code == 415


def test_create_and_revoke_token_commands(client, patient, team):
    out = StringIO()
    call_command("create_api_token", "--team", team.name, "--name", "LIS", stdout=out, stderr=StringIO())
    raw = out.getvalue().strip()
    stored = ApiToken.objects.get(name="LIS")
    assert raw.startswith("nw_") and stored.token_hash == ApiToken.hash(raw) and raw not in stored.token_hash
    assert _post(client, _observation(), raw).status_code == 201
    call_command("revoke_api_token", stored.prefix, stdout=StringIO())
    assert _post(client, _observation(obs_id="anc-2"), raw).status_code == 401

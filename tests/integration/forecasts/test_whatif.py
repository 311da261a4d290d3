"""What-if scenarios on the patient page and as FHIR RiskAssessments at /api/v1/patients/<mrn>/risk-assessments."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.riskassessment import RiskAssessment

from monitoring.forecasts.whatif.fhir import SCENARIO_EXTENSION, _scenario_rationale
from monitoring.forecasts.whatif.scenarios import ScenarioRow
from monitoring.models import AccessLog, ApiToken
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db

SCENARIO_KEYS = ["as_planned", "peg_day2", "filgrastim", "dose_80", "delay_1w"]


@pytest.fixture
def token(team) -> str:
    _, raw = ApiToken.issue("ehr", [team])
    return raw


def get(client, mrn: str, token: str | None = None, method: str = "get"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return getattr(client, method)(f"/api/v1/patients/{mrn}/risk-assessments", **headers)


def whatif_table(client, patient) -> str:
    """Return the what-if table the patient page fetches after it is drawn (views/whatif.py)."""
    page = client.get(f"/patients/{patient.pk}/").content.decode()
    assert f'hx-get="/patients/{patient.pk}/whatif/"' in page  # the page asks for it
    return client.get(f"/patients/{patient.pk}/whatif/").content.decode()


def test_patient_page_shows_the_what_if_table_for_this_cycle_and_the_next(nurse_client, patient, due_cycle):
    page = whatif_table(nurse_client, patient)

    assert 'id="whatif"' in page
    assert "Cycle 2 (this cycle)" in page and "Cycle 3 (next cycle)" in page
    for key in SCENARIO_KEYS:
        assert page.count(f'data-scenario="{key}"') == 2
    assert "Pegfilgrastim day 2 (or on-body injector on day 1)" in page
    assert "cannot know an infection" in page
    assert "chemotherapy given" not in page   # cycle 2 is due, not yet given: every row is still a choice


def test_a_started_cycle_says_its_rows_are_what_another_plan_would_have_done(nurse_client, patient, regimens):
    start_on_regimen(patient, regimens["TC-Q3W"], days_ago=3)
    page = whatif_table(nurse_client, patient)
    assert "Cycle 1 (this cycle): chemotherapy given" in page


def test_patient_without_a_regimen_has_no_what_if_table(nurse_client, patient):
    assert 'id="whatif"' not in nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'id="whatif"' not in nurse_client.get(f"/patients/{patient.pk}/whatif/").content.decode()


def test_risk_assessments_are_valid_fhir_r4_with_a_0_to_1_probability(client, patient, due_cycle, token):
    response = get(client, patient.mrn, token)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    assert "no-store" in response["Cache-Control"]   # patient data: never cached
    body = response.json()
    bundle = Bundle.model_validate(body)   # raises on anything R4 does not allow
    assert bundle.type == "searchset"
    resources = [entry["resource"] for entry in body["entry"]]
    assert all(r["resourceType"] == "RiskAssessment" for r in resources)
    codes = [r["extension"][0]["valueCode"] for r in resources]
    assert codes == ["forecast", *SCENARIO_KEYS, *SCENARIO_KEYS]
    assert all(r["extension"][0]["url"] == SCENARIO_EXTENSION for r in resources)
    for resource in resources:
        RiskAssessment.model_validate(resource)   # R4B's RiskAssessment is R4's
        prediction = resource["prediction"][0]
        assert 0.0 <= prediction["probabilityDecimal"] <= 1.0
        assert prediction["outcome"]["text"].startswith("Grade 4 neutropenia")
        assert resource["subject"]["identifier"]["value"] == patient.mrn
        assert resource["basis"], "the counts and doses the forecast used"
    forecast = resources[0]
    assert forecast["prediction"][0]["probabilityDecimal"] == pytest.approx(due_cycle.forecast.p_grade4, abs=1e-3)
    assert {b["type"] for b in forecast["basis"]} == {"Observation", "MedicationAdministration"}


def test_scenario_windows_and_effects_in_the_bundle(client, patient, due_cycle, token):
    resources = [e["resource"] for e in get(client, patient.mrn, token).json()["entry"]]
    by_code = {}
    for resource in resources[1:6]:   # the current cycle's scenarios
        by_code[resource["extension"][0]["valueCode"]] = resource["prediction"][0]

    day1 = timezone.localtime(due_cycle.day1)
    assert by_code["as_planned"]["whenPeriod"]["start"] == day1.isoformat(timespec="seconds")
    delayed = timezone.localtime(due_cycle.day1 + timedelta(days=7)).isoformat(timespec="seconds")
    assert by_code["delay_1w"]["whenPeriod"]["start"] == delayed
    assert by_code["peg_day2"]["probabilityDecimal"] < by_code["as_planned"]["probabilityDecimal"]
    assert "Pegfilgrastim day 2" in by_code["peg_day2"]["rationale"]


def test_token_scoping_and_methods(client, patient, other_patient, due_cycle, token):
    assert get(client, patient.mrn).status_code == 401
    assert get(client, patient.mrn, "not-a-token").status_code == 401
    other = get(client, other_patient.mrn, token)
    unknown = get(client, "NO-SUCH-MRN", token)
    # Another team's patient is answered exactly as one that does not exist.
    assert other.status_code == unknown.status_code == 404
    assert AccessLog.objects.filter(patient=other_patient, action=AccessLog.Action.REFUSED).exists()
    assert get(client, patient.mrn, token, method="post").status_code == 405


def test_a_read_is_exactly_one_entry_in_the_audit_trail(client, patient, due_cycle, token):
    before = AccessLog.objects.count()
    get(client, patient.mrn, token)
    (entry,) = AccessLog.objects.order_by("pk")[before:]
    assert (entry.patient, entry.action, entry.token.name) == (patient, AccessLog.Action.API_READ, "ehr")


def test_a_patient_without_a_current_cycle_gets_an_empty_bundle(client, patient, token):
    body = get(client, patient.mrn, token).json()
    assert Bundle.model_validate(body).total == 0


def test_the_nadir_day_is_the_calendar_day_of_cycle_every_other_screen_counts():
    # The engine's day 8.6 of a cycle given at 14:00 is 02:24 on the ninth calendar day: the ward, the header
    # and the exports say "day 9" (docs/one-truth.md); the what-if table said "8.6" and the FHIR rationale "day 8.6".
    day1 = timezone.make_aware(datetime(2026, 11, 28, 14, 0))
    row = ScenarioRow(key="as_planned", label="As planned", cycle="current", cycle_number=3, window_start=day1,
                      window_end=day1 + timedelta(days=21), nadir_anc=0.9, nadir_lo80=0.6, nadir_hi80=1.3,
                      nadir_day=8.6, p_grade4=0.05, dsn_days=0.0, p_ready_day1=1.0, p_ready_next_day1=0.9, curve=None)
    cells = re.findall(r"<td>(.*?)</td>", render_to_string("monitoring/_whatif_row.html", {"row": row}))
    assert cells[1] == "9"
    assert "on day 9;" in _scenario_rationale(row, 1.5)

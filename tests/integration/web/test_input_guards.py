"""Input guards (issue 25 item 8): `-0` and control characters refused with a word on forms, API and import."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring.models import ApiToken, CountResult, GcsfDose, ImportException, TemperatureReading
from tests.story import post_count

pytestmark = pytest.mark.django_db
URL = "/api/v1/results"


def _when(hours: float = 2) -> str:
    return timezone.localtime(timezone.now() - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def token(team) -> str:
    return ApiToken.issue("lab", [team])[1]


@pytest.mark.parametrize("typed", ["-0", "-0.0"])
def test_a_minus_zero_anc_on_the_form_is_refused_and_nothing_is_stored(nurse_client, patient, typed):
    response = post_count(nurse_client, patient, anc=typed)
    assert response.status_code == 200
    assert "cannot be negative" in " ".join(response.context["form"].errors["anc"])
    assert not CountResult.objects.exists()


def test_a_minus_zero_wbc_is_refused_too(nurse_client, patient):
    response = post_count(nurse_client, patient, wbc="-0.0", neutrophil_pct="50")
    assert "cannot be negative" in " ".join(response.context["form"].errors["wbc"])
    assert not CountResult.objects.exists()


@pytest.mark.parametrize("typed", ["-0", "-0.0"])
def test_a_minus_zero_anc_through_the_api_is_kept_for_review_not_stored(client, patient, token, typed):
    body = f"mrn,collected_at,anc,unit,accession\nMRN001,{_when()},{typed},10^9/L,ACC-1\n"
    response = client.post(URL, body, content_type="text/csv", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202
    assert "cannot be negative" in response.json()["problems"][0]["reason"]
    assert not CountResult.objects.exists() and ImportException.objects.count() == 1


def test_a_form_time_with_a_trailing_nul_is_refused_with_a_word(nurse_client, patient):
    response = post_count(nurse_client, patient, anc="1.2", collected_at=_when() + "\x00")
    errors = " ".join(response.context["form"].errors["collected_at"])
    assert "NUL (U+0000)" in errors and "retype" in errors
    assert not CountResult.objects.exists()


@pytest.mark.parametrize("field", ["accession", "anc"])
def test_any_count_form_field_with_a_control_character_is_refused(nurse_client, patient, field):
    data = {"anc": "1.2", field: {"accession": "ACC\x1b1", "anc": "1.2\x00"}[field]}
    response = post_count(nurse_client, patient, **data)
    assert "invisible" in " ".join(response.context["form"].errors[field])
    assert not CountResult.objects.exists()


def test_gcsf_and_temperature_forms_refuse_control_characters(nurse_client, patient):
    gcsf = nurse_client.post(reverse("gcsf_new", args=[patient.pk]), {
        "product_name": "filgrastim\x00", "given_at": _when(), "dose": "300", "dose_unit": "ug", "route": "SC"})
    assert "invisible" in " ".join(gcsf.context["form"].errors["product_name"])
    temperature = nurse_client.post(reverse("temperature_new", args=[patient.pk]), {
        "taken_at": _when(), "value": "38.4\x00", "unit": "C", "site": "oral"})
    assert "invisible" in " ".join(temperature.context["form"].errors["value"])
    assert not GcsfDose.objects.exists() and not TemperatureReading.objects.exists()


def test_a_multiline_override_reason_keeps_its_line_breaks_but_not_a_nul():
    from django import forms

    from monitoring.guards.text import RefuseControlCharacters

    class NoteForm(RefuseControlCharacters, forms.Form):
        note = forms.CharField(widget=forms.Textarea)

    assert NoteForm({"note": "line one\r\nline two"}).is_valid()
    bad = NoteForm({"note": "line one\x00"})
    assert not bad.is_valid() and "NUL" in bad.errors["note"][0]


@pytest.mark.parametrize("column", ["accession", "unit"])
def test_an_imported_field_with_a_control_character_is_kept_for_review_with_a_word(client, patient, token, column):
    values = {"accession": "ACC-1", "unit": "10^9/L"}
    values[column] += "\x1b"
    body = f"mrn,collected_at,anc,unit,accession\nMRN001,{_when()},0.8,{values['unit']},{values['accession']}\n"
    response = client.post(URL, body, content_type="text/csv", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.json()
    assert "escape (U+001B)" in " ".join(p["reason"] for p in response.json()["problems"])
    assert not CountResult.objects.exists()


def test_a_file_with_a_nul_is_refused_whole_with_a_word(client, patient, token):
    body = f"mrn,collected_at,anc,unit,accession\nMRN001,{_when()},0.8,10^9/L,ACC-1\x00\n"
    response = client.post(URL, body, content_type="text/csv", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400 and "NUL" in response.json()["problems"][0]["reason"]
    assert not CountResult.objects.exists()


def test_an_alert_note_with_a_control_character_is_not_saved(nurse_client, patient, eager):
    from decimal import Decimal

    from monitoring import clinical, records
    from monitoring.models import Alert

    eager(records.record_count, patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=1), unit="10^9/L", anc=Decimal("0.2")))
    alert = Alert.objects.filter(patient=patient).first()
    assert alert is not None
    nurse_client.post(reverse("alert_acknowledge", args=[alert.pk]), {"note": "called\x00"})
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_an_admin_form_refuses_a_control_character_too(client, team):
    from monitoring.models import Team
    from tests.conftest import make_user

    administrator = make_user("administrator", [team], role="admin")
    administrator.is_staff = administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    response = client.post(reverse("admin:monitoring_team_change", args=[team.pk]),
                           {"name": "Oncology\x1b day unit", "on_call_phone": "", "escalation_email": "",
                            "webhook_url": ""})
    assert response.status_code == 200 and "escape (U+001B)" in response.content.decode()
    assert Team.objects.get(pk=team.pk).name == "Oncology day unit"

"""Hostile input (issue 16): formulas in CSV output, MRNs with line breaks, existence oracles, and
hypothesis over numbers and times on every form (no 500, nothing half-saved)."""
from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring import clinical, records, spreadsheet
from monitoring.models import CountResult, GcsfDose, Patient, TemperatureReading
from tests.conftest import make_patient, start_on_regimen
from tests.story import post_count

pytestmark = pytest.mark.django_db

FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(1) neulasta", "\tTAB", "\rCR"]


# --- CSV output ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", FORMULAS)
def test_a_formula_is_text_in_every_csv_cell(text):
    out = StringIO()
    spreadsheet.writer(out).writerow([text, Decimal("-0.5"), 3, "plain"])
    (row,) = csv.reader(StringIO(out.getvalue()))
    assert row == ["'" + text, "-0.5", "3", "plain"]  # numbers stay numbers


def test_export_results_neutralises_formulas_in_accession_and_product(patient):
    now = timezone.now()
    records.record_count(patient, clinical.parse_count(collected_at=now - timedelta(hours=2), unit="10^9/L",
                                                        anc=Decimal("1.2"), accession=FORMULAS[0]))
    records.record_gcsf(patient, product="pegfilgrastim", product_name=FORMULAS[3], dose=Decimal("6"),
                         dose_unit="mg", given_at=now - timedelta(hours=3))
    out = StringIO()
    call_command("export_results", stdout=out)
    cells = [cell for row in csv.reader(StringIO(out.getvalue())) for cell in row]
    assert "'" + FORMULAS[0] in cells and "'" + FORMULAS[3] in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@", "\t", "\r"))]


@pytest.mark.parametrize("mrn", ["AB\r\nSet-Cookie: x=1", "AB\nC", "AB\tC", "AB\x00", "AB\x1bC"])
def test_an_mrn_with_a_line_break_or_control_character_is_refused(nurse_client, team, mrn):
    response = nurse_client.post(reverse("patient_new"), {
        "mrn": mrn, "given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1960-03-04", "sex": "F",
        "team": team.pk, "active": "on"})
    assert response.status_code == 200 and response.context["form"].errors["mrn"]
    assert not Patient.objects.exists()


def test_a_download_name_from_a_hostile_mrn_is_a_safe_header(nurse_client, team, nurse, regimens):
    patient = make_patient(team, mrn='=X";\\"\u00e9', nurse=nurse)  # stored before MRNs were checked
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=3)
    response = nurse_client.get(reverse("cycle_summary_csv", args=[patient.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="X_-cycle-summary.csv"'
    assert spreadsheet.attachment("A\r\nB.csv") == 'attachment; filename="A_B.csv"'


# --- Refusals reveal nothing about other teams --------------------------------------------------------


def test_an_mrn_of_another_team_is_kept_for_an_administrator_like_an_unused_one(nurse_client, team, other_patient):
    response = nurse_client.post(reverse("patient_new"), {
        "mrn": other_patient.mrn, "given_name": "X", "family_name": "Y", "date_of_birth": "1970-01-01",
        "sex": "F", "team": team.pk, "active": "on"}, follow=True)
    page = response.content.decode()
    assert "sent to an administrator" in page and "exists" not in page
    assert other_patient.family_name not in page


def test_an_accession_of_another_team_is_accepted_as_an_unused_one(nurse_client, patient, other_patient):
    """Issue 25: refusing it (while accepting an unused one) told anyone which accessions exist elsewhere."""
    records.record_count(other_patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=3), unit="10^9/L", anc=Decimal("2.0"), accession="ACC-7"))
    response = post_count(nurse_client, patient, anc="2.1", accession="ACC-7")
    assert response.status_code == 302
    assert CountResult.objects.get(patient=patient).accession == "ACC-7"


def test_an_upload_naming_another_teams_mrn_reads_not_found(nurse_client, other_patient):
    from django.core.files.uploadedfile import SimpleUploadedFile

    when = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    upload = SimpleUploadedFile("r.csv", f"mrn,collected_at,anc,unit\n{other_patient.mrn},{when},1,10^9/L\n".encode())
    page = nurse_client.post(reverse("import_upload"), {"file": upload}).content.decode()
    assert "not found in your teams" in page
    assert not CountResult.objects.exists()


# --- Hypothesis over numbers and times on the forms ------------------------------------------------

NUMBERS = st.one_of(
    st.sampled_from(["1e999999", "-1e999999", "NaN", "Infinity", "-0", "1_0", "١٢", "0x10", "1,5", "  2 ", "",
                     "1e-999999", "99999999999999999999", "0.0000000001", "-1"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.text(alphabet="0123456789.-+eE_ ", max_size=12),
)
TIMES = st.one_of(
    st.sampled_from(["2026-03-29T01:30", "2026-10-25T01:30", "0001-01-01T00:00", "9999-12-31T23:59", "2026-02-30T10:00",
                     "2026-11-20T25:00", "", "yesterday", "2026-11-20T08:30:00+14:00"]),
    st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M")),
    st.text(max_size=20),
)
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW
@given(anc=NUMBERS, wbc=NUMBERS, pct=NUMBERS, when=TIMES)
def test_count_form_never_answers_500(nurse_client, patient, anc, wbc, pct, when):
    response = nurse_client.post(reverse("count_new", args=[patient.pk]), {
        "collected_at": when, "unit": "10^9/L", "anc": anc, "wbc": wbc, "neutrophil_pct": pct, "band_pct": "",
        "accession": ""})
    assert response.status_code in (200, 302)
    if response.status_code == 200:  # refused: nothing half-saved
        assert CountResult.objects.count() == 0
    CountResult.objects.all().delete()


@SLOW
@given(dose=NUMBERS, when=TIMES)
def test_gcsf_form_never_answers_500(nurse_client, patient, dose, when):
    response = nurse_client.post(reverse("gcsf_new", args=[patient.pk]), {
        "product_name": "filgrastim", "dose": dose, "dose_unit": "ug", "route": "SC", "given_at": when})
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert not GcsfDose.objects.exists()
    GcsfDose.objects.all().delete()


@SLOW
@given(temperature=NUMBERS, when=TIMES)
def test_temperature_form_never_answers_500(nurse_client, patient, temperature, when):
    response = nurse_client.post(reverse("temperature_new", args=[patient.pk]), {
        "value": temperature, "unit": "C", "site": "oral", "taken_at": when})
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert not TemperatureReading.objects.exists()
    TemperatureReading.objects.all().delete()


@SLOW
@given(weight=NUMBERS, anc=NUMBERS, born=st.one_of(TIMES, st.dates().map(str)))
def test_patient_form_never_answers_500(nurse_client, team, weight, anc, born):
    response = nurse_client.post(reverse("patient_new"), {
        "mrn": "HYP-1", "given_name": "Ada", "family_name": "L", "date_of_birth": born[:10], "sex": "F",
        "team": team.pk, "active": "on", "weight_kg": weight, "baseline_anc_1e9_per_l": anc})
    assert response.status_code in (200, 302)
    Patient.objects.filter(mrn="HYP-1").delete()


@SLOW
@given(when=TIMES, fraction=NUMBERS, new_day1=TIMES)
def test_cycle_forms_never_answer_500(client, team, patient, regimens, when, fraction, new_day1):
    from monitoring.models import User
    from tests.conftest import make_user

    oncologist = User.objects.filter(username="onc").first() or make_user("onc", [team], role="oncologist")
    client.force_login(oncologist)
    cycle = patient.courses.first().cycles.get(number=2) if patient.courses.exists() else \
        start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=3).course.cycles.get(number=2)
    give = client.post(reverse("cycle_give", args=[cycle.pk]), {"given_at": when, "dose_fraction": fraction})
    delay = client.post(reverse("cycle_delay", args=[cycle.pk]), {"new_day1": new_day1, "reason": "ANC low"})
    assert give.status_code in (200, 302) and delay.status_code in (200, 302)

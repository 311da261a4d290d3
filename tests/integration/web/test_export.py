"""The per-cycle summary CSV: what a nurse takes to the MDT meeting or a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import treatment
from monitoring.models import AccessLog, Cycle
from tests.conftest import make_patient, start_on_regimen
from tests.story import build_story_patient

pytestmark = pytest.mark.django_db


def _rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_cycle_summary_has_one_row_per_started_cycle(nurse_client, nurse, team, regimens):
    patient, cycles = build_story_patient(team, regimens)

    response = nurse_client.get(reverse("cycle_summary_csv", args=[patient.pk]))

    assert response.status_code == 200
    assert 'filename="STORY1-cycle-summary.csv"' in response["Content-Disposition"]
    rows = _rows(response)
    assert [r["cycle"] for r in rows] == ["1", "2", "3"]  # cycle 4 is only planned
    first, second, third = rows
    assert first["observed_nadir_anc_1e9_per_l"] == "0.400" and first["worst_ctcae_grade"] == "4"
    # 7 days less 2 hours after the day-1 dose: a whole calendar day in clinic time (day 1 = the
    # dose's date), day 8 unless the dose was given before 02:00; the chart and ward say the same.
    dose = timezone.localtime(cycles[0].day1)
    assert first["observed_nadir_day"] == str(8 if dose.hour >= 2 else 7)
    assert first["gcsf_given"].startswith("Pegfilgrastim 6 mg")
    assert second["observed_nadir_anc_1e9_per_l"] == "0.900" and second["worst_ctcae_grade"] == "3"
    assert second["gcsf_given"].count("Filgrastim 300 ug") == 3
    assert second["fever_episodes"] == "1" and first["fever_episodes"] == "0"
    forecast = Cycle.objects.get(pk=cycles[2].pk).forecast
    assert third["latest_predicted_nadir_anc_1e9_per_l"] == f"{forecast.nadir_anc_1e9_per_l:.3f}"
    assert third["first_predicted_nadir_anc_1e9_per_l"] == f"{forecast.first_nadir_anc_1e9_per_l:.3f}"
    assert AccessLog.objects.filter(patient=patient, user=nurse, action=AccessLog.Action.EXPORT).count() == 1


def test_cycle_summary_records_delays_and_neutralises_formulas(nurse_client, team, regimens):
    patient = make_patient(team, mrn="DELAY1")
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=30)
    cycle2 = Cycle.objects.get(course=cycle1.course, number=2)
    treatment.delay_cycle(cycle2, cycle2.planned_day1 + timedelta(days=7), "=HYPERLINK(\"x\") ANC 1.1")
    treatment.give_cycle(Cycle.objects.get(pk=cycle2.pk), timezone.now() - timedelta(days=2))

    rows = _rows(nurse_client.get(reverse("cycle_summary_csv", args=[patient.pk])))

    assert rows[1]["status"] == "Given"
    assert rows[1]["delay_reason"] == "'=HYPERLINK(\"x\") ANC 1.1"
    assert rows[0]["n_counts"] == "0" and rows[0]["observed_nadir_anc_1e9_per_l"] == ""


def test_cycle_summary_of_another_team_is_404(nurse_client, other_patient):
    assert nurse_client.get(reverse("cycle_summary_csv", args=[other_patient.pk])).status_code == 404
    assert list(AccessLog.objects.filter(patient=other_patient).values_list("action", flat=True)) == ["refused"]

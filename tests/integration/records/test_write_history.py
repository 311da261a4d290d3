"""Every write in history (issue 25 item 3): demo data, alerts (raised, acknowledged, escalated), regimens."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from monitoring import alerts, clinical, records
from monitoring.models import Alert, CountResult, GcsfDose, Regimen
from tests.conftest import make_user, start_on_regimen

pytestmark = pytest.mark.django_db


def test_load_demo_writes_a_history_row_for_every_count_and_dose(regimens):
    call_command("load_demo", password="demo-password-1", stdout=StringIO())
    for model in (CountResult, GcsfDose):
        rows = model.objects.count()
        assert rows > 0
        assert model.history.filter(history_type="+").count() == rows, model.__name__


def _critical_alert(patient, regimens, eager) -> Alert:
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    eager(records.record_count, patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=1), unit="10^9/L", anc=Decimal("0.2")))
    return Alert.objects.get(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED)


def test_an_alert_is_in_history_from_raised_to_acknowledged_with_note_and_antibiotic_time(
        nurse_client, nurse, patient, regimens, eager):
    alert = _critical_alert(patient, regimens, eager)
    assert [h.history_type for h in alert.history.all()] == ["+"]
    given = timezone.localtime(timezone.now() - timedelta(minutes=10)).replace(second=0, microsecond=0)
    nurse_client.post(reverse("alert_acknowledge", args=[alert.pk]),
                      {"note": "Called the patient", "antibiotics_given_at": given.strftime("%Y-%m-%dT%H:%M")})
    latest = alert.history.first()
    assert (latest.history_type, latest.acknowledgement_note, latest.history_user) == ("~", "Called the patient", nurse)
    assert latest.antibiotics_given_at == given


def test_an_acknowledgement_that_lost_the_race_writes_no_history(nurse, patient, regimens, eager):
    alert = _critical_alert(patient, regimens, eager)
    assert alerts.acknowledge_alert(alert.pk, nurse, "first")
    rows = alert.history.count()
    assert not alerts.acknowledge_alert(alert.pk, nurse, "second")
    assert alert.history.count() == rows and alert.history.first().acknowledgement_note == "first"


def test_an_escalation_is_in_the_alerts_history(patient, regimens, eager, settings):
    alert = _critical_alert(patient, regimens, eager)
    later = timezone.now() + timedelta(minutes=settings.NEUTROWATCH["ESCALATE_AFTER_MINUTES"] + 1)
    assert alerts.escalate_due(later) == 1
    assert alert.history.first().escalated_at == later


def test_a_regimen_threshold_changed_in_the_admin_is_in_its_history(client, team, regimens):
    administrator = make_user("administrator", [team], role="admin")
    administrator.is_staff = administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    regimen = Regimen.objects.get(code="DOCETAXEL-75-Q3W")
    regimen.next_cycle_anc_1e9_per_l = Decimal("1.0")
    regimen.save()
    change = regimen.history.first()
    assert change.history_type == "~" and change.next_cycle_anc_1e9_per_l == Decimal("1.0")
    url = reverse("admin:monitoring_regimen_history", args=[regimen.pk])
    assert "1.0" in client.get(url).content.decode()


def test_the_record_history_names_a_result_as_the_patient_page_does(nurse_client, patient, regimens):
    # The history labelled a count "ANC 0.100 x10^9/L at 2026-07-01 08:00" (the bound, in UTC) where the
    # patient page reads "<0.1" at 09:00 (clinic time, BST).
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    summer = timezone.make_aware(datetime(2026, 7, 1, 9, 0))  # 08:00 UTC
    records.record_count(patient, clinical.parse_count(collected_at=summer, unit="10^9/L", anc=Decimal("0.1"),
                                                        qualifier="<"))
    records.record_temperature(patient, taken_at=summer, temperature_c=Decimal("37.2"), entered_value="37.2")
    page = nurse_client.get(reverse("patient_history", args=[patient.pk])).content.decode()
    assert "ANC &lt;0.1 x10^9/L at 2026-07-01 09:00" in page
    assert "37.20 °C at 2026-07-01 09:00" in page
    assert "2026-07-01 08:00" not in page  # (a bare "08:00" is in the page at 20:08, in its own times)

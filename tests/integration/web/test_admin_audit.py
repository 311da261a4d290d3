"""Every read audited (issue 25 item 3): each admin list, change and history page of patient data is logged."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from monitoring import clinical, records
from monitoring.admin_audit import NOT_PATIENT_DATA, PATIENT_PATHS
from monitoring.models import (
    AccessLog,
    Alert,
    AlertEscalation,
    Delivery,
    EscalationTimer,
    Forecast,
    ImportException,
    Patient,
    RegistrationRequest,
    TriageCall,
)
from tests.conftest import make_user, start_on_regimen

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, team):
    administrator = make_user("administrator", [team], role="admin")
    administrator.is_staff = administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    return client


@pytest.fixture
def patient_data(patient, regimens, eager):
    """One row of every patient-data model, written through the real write paths."""
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    now = timezone.now()
    eager(records.record_count, patient, clinical.parse_count(
        collected_at=now - timedelta(hours=2), unit="10^9/L", anc=Decimal("0.3")))
    eager(records.record_gcsf, patient, product="filgrastim", product_name="filgrastim", dose=Decimal("300"),
          dose_unit="ug", given_at=now - timedelta(hours=1))
    eager(records.record_temperature, patient, taken_at=now - timedelta(minutes=30),
          temperature_c=Decimal("37.1"), entered_value="37.1")
    ImportException.objects.create(source="api", format="csv", location="row 2", raw="MRN001,x", raw_digest="d",
                                   problems=[{"field": "anc", "reason": "x"}], received_at=now, patient=patient)
    AccessLog.objects.create(patient=patient, action=AccessLog.Action.VIEW, path="/patients/1/")
    alert = Alert.objects.filter(patient=patient).first()
    AlertEscalation.objects.get_or_create(alert=alert, defaults={"steps": [], "started_at": now})
    EscalationTimer.objects.create(alert=alert, step=0, target=EscalationTimer._meta.get_field("target").choices[0][0],
                                   due_at=now)
    TriageCall.objects.create(patient=patient, called_at=now, outcome=TriageCall.Outcome.choices[0][0])
    RegistrationRequest.objects.create(mrn=patient.mrn, team=patient.team, requested_at=now, patient=patient,
                                       status=RegistrationRequest.Status.REGISTERED, values={"mrn": patient.mrn})
    assert Alert.objects.exists() and Delivery.objects.exists() and Forecast.objects.exists()
    return patient


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_registered_model_is_either_patient_data_or_declared_free_of_it():
    unclassified = [model._meta.label_lower for model in admin.site._registry
                    if model not in PATIENT_PATHS and model._meta.label_lower not in NOT_PATIENT_DATA]
    assert not unclassified, f"say how these lead to a patient (monitoring/admin_audit.py): {unclassified}"


@pytest.mark.parametrize("model", list(PATIENT_PATHS), ids=lambda m: m.__name__)
def test_every_admin_list_change_and_history_page_of_patient_data_is_in_the_access_log(
        admin_client, patient_data, model):
    assert model in admin.site._registry
    obj = model.objects.first()
    assert obj is not None, f"no {model.__name__} to look at"
    expected = Patient.objects.get().pk
    pages = [("changelist", (), AccessLog.Action.LIST), ("change", (obj.pk,), AccessLog.Action.VIEW),
             ("history", (obj.pk,), AccessLog.Action.HISTORY)]
    for view, args, action in pages:
        url = _admin_url(model, view, *args)
        before = AccessLog.objects.count()
        response = admin_client.get(url)
        assert response.status_code == 200, url
        entry = AccessLog.objects.order_by("-pk").first()
        assert AccessLog.objects.count() == before + 1, f"{url} wrote no access-log entry"
        assert (entry.action, entry.path, entry.user.username) == (action, url, "administrator")
        if action == AccessLog.Action.LIST:
            assert entry.patients_shown == [expected]
        else:
            assert entry.patient_id == expected


def test_an_admin_search_logs_the_patients_it_showed(admin_client, patient, other_patient):
    admin_client.get(_admin_url(Patient, "changelist"), {"q": other_patient.mrn})
    assert AccessLog.objects.get(action=AccessLog.Action.LIST).patients_shown == [other_patient.pk]


def test_a_historical_version_page_is_logged(admin_client, patient):
    patient.phone = "01234 567890"
    patient.save()
    version = patient.history.first()
    url = reverse("admin:monitoring_patient_simple_history", args=[patient.pk, version.history_id])
    assert admin_client.get(url).status_code == 200
    assert AccessLog.objects.get(path=url).action == AccessLog.Action.HISTORY


def test_a_count_is_picked_by_patient_id_not_from_a_list_of_every_patient(admin_client, patient, other_patient):
    page = admin_client.get(_admin_url(Patient, "changelist").replace("patient", "countresult") + "add/")
    assert page.status_code == 200 and other_patient.family_name not in page.content.decode()

"""Issue 21, item 5: doubt fails safe. A count held for review is graded under every reading its hold
names (as received, and the suspected unit or decimal slip); a grade 4 under any reading is a critical
alert to the whole team at once, escalated like any critical. A count that cannot be read at all is
"unreadable count held" (high). Over the real write paths: CSV import, HL7 v2 file (the MLLP listener's
importer), the results API (FHIR), with no worker."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import alerts
from monitoring.labfeed import exceptions_queue, importers
from monitoring.models import Alert, ApiToken, CountResult, Delivery, ImportException
from monitoring.models.results import Source
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
NOW = timezone.now()  # one clock for the module (CSV and HL7 times to the minute)
HEADER = "mrn,collected_at,anc,wbc,neutrophil_pct,unit,accession"


def _at(hours: float) -> str:
    return timezone.localtime(NOW - timedelta(hours=hours)).isoformat(timespec="minutes")


def _csv(*rows: str):
    return importers.import_file("lab.csv", "\n".join([HEADER, *rows]) + "\n", source=Source.IMPORT)


def _held(kind=Alert.Kind.HELD_RESULT):
    return Alert.objects.filter(kind=kind, resolved_at__isnull=True)


@pytest.fixture
def colleagues(team, nurse):
    return [nurse, make_user("colleague_a", [team])]


def test_80_sent_as_1e9_per_l_is_read_as_cells_per_ul_too_a_critical_alert_to_the_whole_team(
        patient, cycle, colleagues):
    report = _csv(f"MRN001,{_at(2)},80,,,10^9/L,U-1")
    assert len(report.kept) == 1 and not CountResult.objects.exists()
    alert = _held().get()
    assert alert.severity == Alert.Severity.CRITICAL
    assert alert.message.startswith("ANC 80 x10^9/L held for review, not stored")
    assert "if it is cells/uL it is 0.080 x10^9/L, grade 4" in alert.message
    assert "as received it is 80.000 x10^9/L, grade 0" in alert.message
    assert "confirm with the lab now" in alert.message
    assert alert.evidence["ctcae_grade"] == 4
    # Critical: every nurse of the team in-app at once, and the escalation contact by email.
    inapp = {d.recipient for d in alert.deliveries.filter(channel=Delivery.Channel.INAPP)}
    assert inapp == {n.username for n in colleagues}
    emails = {d.recipient for d in alert.deliveries.filter(channel=Delivery.Channel.EMAIL)}
    assert "charge.nurse@example.org" in emails
    # And it escalates like any critical left unacknowledged.
    assert alerts.escalate_due(NOW + timedelta(hours=1)) == 1
    assert alert.deliveries.filter(purpose=Delivery.Purpose.ESCALATE).exists()


def test_a_decimal_slip_upwards_is_graded_as_the_slip_would_make_it(patient, cycle):
    _csv(f"MRN001,{_at(20)},0.35,,,10^9/L,D-1")
    _csv(f"MRN001,{_at(2)},4.0,,,10^9/L,D-2")  # 11 times higher in a day: held as a decimal slip
    assert ImportException.objects.count() == 1
    alert = _held().get()
    assert alert.severity == Alert.Severity.CRITICAL
    assert "if the decimal point slipped it is 0.400 x10^9/L, grade 4" in alert.message


def test_a_held_grade_3_under_every_reading_is_high(patient, cycle):
    _csv(f"MRN001,{_at(3)},0.90,,,10^9/L,C-1")
    _csv(f"MRN001,{_at(3)},0.7,,,10^9/L,C-1")  # the accession re-sent as final with another value
    alert = _held().get()
    assert alert.severity == Alert.Severity.HIGH
    assert "as received it is 0.700 x10^9/L, grade 3" in alert.message


def test_a_grade_3_alert_is_replaced_by_a_critical_one_when_a_grade_4_reading_is_held(patient, cycle, nurse):
    _csv(f"MRN001,{_at(3)},0.90,,,10^9/L,C-1")
    _csv(f"MRN001,{_at(3)},0.7,,,10^9/L,C-1")
    high = _held().get()
    _csv(f"MRN001,{_at(1)},60,,,10^9/L,C-2")
    critical = _held().get()
    assert critical.pk != high.pk and critical.severity == Alert.Severity.CRITICAL
    high.refresh_from_db()
    assert high.resolved_at is not None
    assert "(1 more held)" in critical.message
    assert critical.deliveries.filter(channel=Delivery.Channel.INAPP, recipient=nurse.username).exists()


def test_hl7_04_in_cells_per_ul_is_read_as_1e9_per_l_a_critical_alert(patient, cycle):
    moment = timezone.localtime(NOW - timedelta(hours=2)).strftime("%Y%m%d%H%M%z")
    text = "\r".join([f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{moment}||ORU^R01|H-1|P|2.5.1", "PID|1||MRN001^^^HOSP^MR",
                      f"OBR|1||H-ACC||||{moment}", "OBX|1|NM|751-8^Neutrophils^LN||0.4|/uL|||||F"]) + "\r"
    report = importers.import_file("lab.hl7", text.encode(), source=Source.MLLP, fmt="hl7")
    assert len(report.kept) == 1
    alert = _held().get()
    assert alert.severity == Alert.Severity.CRITICAL
    assert "if it is x10^9/L it is 0.400 x10^9/L, grade 4" in alert.message


def test_fhir_over_the_api_a_value_in_the_cells_per_ul_range_is_critical(client, patient, cycle, team):
    _, token = ApiToken.issue("lab", [team])
    effective = timezone.localtime(NOW - timedelta(hours=2)).isoformat(timespec="seconds")
    body = json.dumps({
        "resourceType": "Observation", "id": "anc-80", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
        "subject": {"identifier": {"value": "MRN001"}}, "effectiveDateTime": effective,
        "valueQuantity": {"value": 45, "system": "http://unitsofmeasure.org", "code": "10*9/L"},
    })
    client.post("/api/v1/results", body, content_type="application/fhir+json",
                headers={"Authorization": f"Bearer {token}"})
    alert = _held().get()
    assert alert.severity == Alert.Severity.CRITICAL and "0.045 x10^9/L, grade 4" in alert.message


def test_an_unreadable_count_of_a_known_patient_is_held_and_alerted_high_until_fixed(patient, cycle, nurse):
    report = _csv(f"MRN001,{_at(2)},\"1,2\",,,10^9/L,R-1")
    assert len(report.kept) == 1
    alert = _held(Alert.Kind.UNREADABLE_HELD).get()
    assert alert.severity == Alert.Severity.HIGH and alert.cycle is None
    assert "A count arrived that cannot be read: ANC 1,2 x10^9/L" in alert.message
    assert alert.deliveries.filter(channel=Delivery.Channel.INAPP, recipient=nurse.username).exists()
    kept = ImportException.objects.get()
    outcome = exceptions_queue.fix(kept.pk, {**kept.values, "anc": "1.2"}, nurse)
    assert outcome.done, outcome.message
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_differential_that_cannot_be_read_is_unreadable_too(patient, cycle):
    _csv(f"MRN001,{_at(2)},,3.1,4O,10^9/L,R-2")  # a letter O for a zero
    assert _held(Alert.Kind.UNREADABLE_HELD).exists()


def test_a_held_count_of_grade_2_or_better_under_every_reading_raises_nothing(patient, cycle):
    _csv(f"MRN001,{_at(3)},1.90,,,10^9/L,N-1")
    _csv(f"MRN001,{_at(3)},1.5,,,10^9/L,N-1")  # conflict at grade 1-2
    assert ImportException.objects.count() == 1
    assert not Alert.objects.filter(kind__in=[Alert.Kind.HELD_RESULT, Alert.Kind.UNREADABLE_HELD]).exists()


# --- An MRN nobody has registered -----------------------------------------------------------------

@pytest.fixture
def admin_user(team):
    return make_user("admin_ann", [], role="admin")


def _unregistered():
    return Alert.objects.filter(kind=Alert.Kind.UNREGISTERED_RESULT)


def test_a_grade_4_for_an_unregistered_mrn_is_a_critical_alert_to_administrators_and_escalation_contacts(
        client, team, other_team, admin_user, nurse, django_capture_on_commit_callbacks):
    other_team.escalation_email = "haem.lead@example.org"
    other_team.save()
    with django_capture_on_commit_callbacks(execute=True):
        report = _csv(f"NEW-9,{_at(2)},0.2,,,10^9/L,N-9")
    assert len(report.kept) == 1
    alert = _unregistered().get()
    assert (alert.patient, alert.severity, alert.import_exception) == (None, Alert.Severity.CRITICAL,
                                                                       ImportException.objects.get())
    assert "MRN NEW-9, which nobody has registered" in alert.message and "grade 4" in alert.message
    assert {d.recipient for d in alert.deliveries.filter(channel=Delivery.Channel.INAPP)} == {"admin_ann"}
    emails = {d.recipient for d in alert.deliveries.filter(channel=Delivery.Channel.EMAIL)}
    assert emails == {"admin_ann@example.org", "charge.nurse@example.org", "haem.lead@example.org"}
    assert {d.status for d in alert.deliveries.filter(channel=Delivery.Channel.INAPP)} == {Delivery.Status.SENT}
    # The administrator sees it in her inbox and can acknowledge it; a ward nurse does not see it.
    client.force_login(admin_user)
    page = client.get("/alerts/").content.decode()
    assert "MRN NEW-9, not registered" in page
    client.post(f"/alerts/{alert.pk}/acknowledge/", {"note": "called the lab"})
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    client.force_login(nurse)
    assert "MRN NEW-9, not registered" not in client.get("/alerts/").content.decode()


def test_the_named_list_setting_replaces_the_default_and_the_alert_escalates_and_resolves(
        settings, team, admin_user, nurse):
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "UNREGISTERED_RESULT_RECIPIENTS": ["nurse", "lab.duty@example.org"]}
    _csv(f"NEW-9,{_at(2)},80,,,10^9/L,N-9")  # 80 "x10^9/L": 0.08 if it is cells/uL
    alert = _unregistered().get()
    assert "if it is cells/uL it is 0.080 x10^9/L, grade 4" in alert.message
    assert {d.recipient for d in alert.deliveries.all()} == {"nurse", "nurse@example.org", "lab.duty@example.org"}
    _csv(f"NEW-9,{_at(2)},80,,,10^9/L,N-9")  # re-sent: the same exception, told once
    assert _unregistered().count() == 1
    assert alerts.escalate_due(NOW + timedelta(hours=1)) == 1
    escalations = alert.deliveries.filter(purpose=Delivery.Purpose.ESCALATE)
    assert {d.recipient for d in escalations} == {"nurse@example.org", "lab.duty@example.org"}
    outcome = exceptions_queue.dismiss(ImportException.objects.get().pk, admin_user, "sent in error: not ours")
    assert outcome.done, outcome.message
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_fever_for_an_unregistered_mrn_over_hl7_is_critical_and_a_normal_value_is_not(team, admin_user):
    moment = timezone.localtime(NOW - timedelta(hours=1)).strftime("%Y%m%d%H%M%z")
    def message(control, mrn, value):
        return "\r".join([f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{moment}||ORU^R01|{control}|P|2.5.1",
                          f"PID|1||{mrn}^^^HOSP^MR", f"OBR|1||{control}-A||||{moment}",
                          f"OBX|1|NM|8310-5^Body temperature^LN||{value}|Cel|||||F"]) + "\r"
    importers.import_file("t.hl7", message("T-1", "NEW-1", "38.1").encode(), source=Source.MLLP, fmt="hl7")
    importers.import_file("t.hl7", message("T-2", "NEW-2", "36.9").encode(), source=Source.MLLP, fmt="hl7")
    alert = _unregistered().get()
    assert alert.evidence["mrn"] == "NEW-1" and alert.evidence["temperature_c"] == "38.10"
    assert "possible neutropenic sepsis" in alert.message


def test_a_grade_2_count_for_an_unregistered_mrn_stays_a_queue_row(team, admin_user):
    _csv(f"NEW-9,{_at(2)},1.2,,,10^9/L,N-9")
    assert ImportException.objects.count() == 1 and not _unregistered().exists()


# --- FHIR: an entry that cannot be read to a count alerts like an HL7 message or a CSV row ---------

def _fhir_observation(value, *, effective=None, code="751-8", subject=None, unit="10*9/L") -> dict:
    effective = effective or timezone.localtime(NOW - timedelta(hours=2)).isoformat(timespec="seconds")
    return {
        "resourceType": "Observation", "id": "anc-x", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": subject or {"identifier": {"value": "MRN001"}}, "effectiveDateTime": effective,
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit},
    }


def _fhir(document: dict):
    return importers.import_file("lab.json", json.dumps(document), source=Source.IMPORT, fmt="fhir")


def test_fhir_an_observation_whose_value_cannot_be_read_raises_unreadable_count_held(patient, cycle, nurse):
    report = _fhir(_fhir_observation("1,2"))  # not a FHIR decimal: the resource does not validate
    assert len(report.kept) == 1 and not CountResult.objects.exists()
    alert = _held(Alert.Kind.UNREADABLE_HELD).get()
    assert alert.severity == Alert.Severity.HIGH
    assert "A count arrived that cannot be read: ANC 1,2" in alert.message
    assert alert.deliveries.filter(channel=Delivery.Channel.INAPP, recipient=nurse.username).exists()
    # Dismissing it (a person's decision on that very value) resolves the alert.
    outcome = exceptions_queue.dismiss(ImportException.objects.get().pk, nurse, "re-sent by the lab")
    assert outcome.done, outcome.message
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_fhir_a_bundle_entry_with_a_panel_that_cannot_be_read_names_its_patient_through_the_bundle(
        patient, cycle):
    observation = _fhir_observation(None, subject={"reference": "urn:uuid:p1"})
    del observation["valueQuantity"]
    observation["code"] = {"coding": [{"system": "http://loinc.org", "code": "58410-2"}]}
    observation["component"] = [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "6690-2"}]},
         "valueQuantity": {"value": "3.1", "code": "10*9/L"}},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "770-8"}]},
         "valueQuantity": {"value": "4O", "code": "%"}},  # a letter O for a zero
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "identifier": [{"value": "MRN001"}]}},
        {"resource": observation},
    ]}
    report = _fhir(bundle)
    assert len(report.kept) == 1
    assert _held(Alert.Kind.UNREADABLE_HELD).exists()
    assert ImportException.objects.get().patient == patient


def test_fhir_a_readable_grade_4_value_in_an_entry_refused_for_another_reason_is_held_critical(patient, cycle):
    # A time without a zone is refused (FHIR requires one), but the value itself reads as grade 4.
    report = _fhir(_fhir_observation(0.2, effective=timezone.localtime(NOW - timedelta(hours=2))
                                     .strftime("%Y-%m-%dT%H:%M:%S")))
    assert len(report.kept) == 1 and not CountResult.objects.exists()
    alert = _held().get()
    assert alert.severity == Alert.Severity.CRITICAL and "grade 4" in alert.message


# --- A temperature held for review, of a known patient on chemotherapy ------------------------------

TEMPERATURE_HEADER = "mrn,collected_at,temperature,temperature_unit,accession"


def _temperature_csv(*rows: str):
    return importers.import_file("temps.csv", "\n".join([TEMPERATURE_HEADER, *rows]) + "\n", source=Source.IMPORT)


def test_a_fahrenheit_value_sent_as_celsius_is_held_and_alerted_as_the_fever_it_would_be(
        patient, cycle, colleagues):
    report = _temperature_csv(f"MRN001,{_at(1)},101.3,C,T-1")  # 101.3 "C" cannot be; 101.3 F is 38.5 C
    assert len(report.kept) == 1
    alert = Alert.objects.get(patient=patient, resolved_at__isnull=True, kind=Alert.Kind.HELD_TEMPERATURE)
    assert alert.severity == Alert.Severity.CRITICAL
    assert "Temperature 101.3 C held for review, not stored" in alert.message
    assert "if it is °F it is 38.50 °C" in alert.message
    inapp = {d.recipient for d in alert.deliveries.filter(channel=Delivery.Channel.INAPP)}
    assert inapp == {n.username for n in colleagues}
    kept = ImportException.objects.get()
    outcome = exceptions_queue.fix(kept.pk, {**kept.values, "temperature_unit": "F"}, colleagues[0])
    assert outcome.done, outcome.message
    alert.refresh_from_db()
    assert alert.resolved_at is not None  # a person decided; the stored 38.5 C is now the rules' to judge
    assert Alert.objects.filter(patient=patient, resolved_at__isnull=True,
                                kind__in=[Alert.Kind.FEVER_UNKNOWN_ANC, Alert.Kind.FEBRILE_NEUTROPENIA]).exists()


def test_a_temperature_that_cannot_be_read_is_held_and_alerted_high(patient, cycle):
    _temperature_csv(f"MRN001,{_at(1)},\"38,9\",C,T-2")
    alert = Alert.objects.get(patient=patient, resolved_at__isnull=True, kind=Alert.Kind.HELD_TEMPERATURE)
    assert alert.severity == Alert.Severity.HIGH and "cannot be read" in alert.message


def test_a_held_temperature_below_38_under_every_reading_raises_nothing(patient, cycle):
    _temperature_csv(f"MRN001,{_at(1)},98.2,C,T-3")  # 98.2 F is 36.78 C
    assert ImportException.objects.count() == 1
    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.HELD_TEMPERATURE).exists()


def test_a_held_alert_replaced_or_closed_says_so_in_its_history(patient, cycle, nurse):
    from monitoring.models import AlertEvent

    _csv(f"MRN001,{_at(3)},0.90,,,10^9/L,C-1")
    _csv(f"MRN001,{_at(3)},0.7,,,10^9/L,C-1")
    high = _held().get()
    _csv(f"MRN001,{_at(1)},60,,,10^9/L,C-2")
    critical = _held().get()
    high.refresh_from_db()
    assert high.superseded_by_id == critical.pk  # linked, as any alert a graver one replaces
    assert critical.message.startswith("Worse: ")
    assert AlertEvent.objects.filter(alert=high, kind=AlertEvent.Kind.SUPERSEDED).exists()
    assert AlertEvent.objects.filter(alert=critical, kind=AlertEvent.Kind.WORSENED).exists()
    for kept in ImportException.objects.all():
        assert exceptions_queue.dismiss(kept.pk, nurse, "lab confirmed: sample clotted").done
    critical.refresh_from_db()
    assert critical.resolved_at is not None
    assert AlertEvent.objects.filter(alert=critical, kind=AlertEvent.Kind.RESOLVED).exists()


def test_a_fahrenheit_value_sent_as_celsius_for_an_unregistered_mrn_is_read_as_the_fever_it_would_be(
        team, admin_user):
    _temperature_csv(f"NEW-7,{_at(1)},101.3,C,T-9")
    alert = _unregistered().get()
    assert alert.severity == Alert.Severity.CRITICAL and "38.50 °C" in alert.message


def test_the_antibiotic_time_of_an_unregistered_mrns_alert_is_recorded(client, team, admin_user):
    _csv(f"NEW-9,{_at(2)},0.2,,,10^9/L,N-9")
    alert = _unregistered().get()
    client.force_login(admin_user)
    given = timezone.localtime(timezone.now() - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/alerts/{alert.pk}/antibiotics/", {"antibiotics_given_at": given})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.antibiotics_given_at is not None
    assert "Antibiotic time recorded for NEW-9." in client.get("/alerts/").content.decode()


def test_a_line_break_in_an_unregistered_mrn_does_not_stop_its_critical_email(team, admin_user, mailoutbox):
    """The MRN goes into the subject; a header cannot hold a line break (BadHeaderError on every attempt)."""
    importers.import_file("lab.csv", f'{HEADER}\n"NEW-9\r\nBcc: spy@evil.example",{_at(2)},0.2,,,10^9/L,N-9\n',
                          source=Source.IMPORT)
    alert = _unregistered().get()
    emails = alert.deliveries.filter(channel=Delivery.Channel.EMAIL)
    assert emails.exists()
    assert {alerts.deliver(d.pk).status for d in emails} == {Delivery.Status.SENT}
    assert len(mailoutbox) == emails.count()
    for message in mailoutbox:
        assert "\n" not in message.subject and "\r" not in message.subject and "NEW-9" in message.subject
        assert message.bcc == [] and "spy@evil.example" not in message.recipients()

"""A grade 3-4 count of a known patient kept for review (not stored) raises "count held for review"
for the team, and the alert goes when the exception is closed (fixed, dismissed, re-tried).
A held count is observed too: without this, nobody would hear of it until someone opened the queue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring.labfeed import exceptions_queue, importers
from monitoring.models import Alert, CountResult, Delivery, ImportException
from monitoring.models.results import Source

pytestmark = pytest.mark.django_db
NOW = timezone.now()  # one clock for the module (CSV times to the minute)
HEADER = "mrn,collected_at,anc,unit,accession"


def _at(hours: float) -> str:
    return timezone.localtime(NOW - timedelta(hours=hours)).isoformat(timespec="minutes")


def _import(*rows: str):
    return importers.import_file("lab.csv", "\n".join([HEADER, *rows]) + "\n", source=Source.IMPORT)


def _held():
    return Alert.objects.filter(kind=Alert.Kind.HELD_RESULT)


def test_a_grade_4_value_held_as_a_conflict_alerts_the_team_until_it_is_dismissed(patient, cycle, nurse,
                                                                                   nurse_client):
    _import(f"MRN001,{_at(3)},0.90,10^9/L,ACC-1")
    # The laboratory re-sends the accession with another value but as final, not corrected: kept.
    report = _import(f"MRN001,{_at(3)},0.3,10^9/L,ACC-1")
    assert len(report.kept) == 1 and CountResult.objects.get().anc_1e9_per_l == Decimal("0.900")
    alert = _held().get()
    kept = ImportException.objects.get()
    # Grade 4 as received: critical (issue 21, item 5: doubt fails safe).
    assert (alert.patient, alert.cycle, alert.severity) == (patient, None, Alert.Severity.CRITICAL)
    assert "as received it is 0.300 x10^9/L, grade 4" in alert.message
    assert f"/import/exceptions/{kept.pk}/" in alert.message and "as a correction. Open it" in alert.message
    assert alert.deliveries.filter(channel=Delivery.Channel.INAPP, recipient=nurse.username).exists()
    assert "Grade 3-4 count held for review" in nurse_client.get("/alerts/").content.decode()
    _import(f"MRN001,{_at(3)},0.3,10^9/L,ACC-1")  # sent again: the same exception, the same alert
    assert _held().count() == 1 and ImportException.objects.count() == 1
    nurse_client.post(f"/import/exceptions/{kept.pk}/dismiss", {"reason": "lab confirms 0.9 is right"})
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_held_count_that_is_stored_after_a_fix_moves_to_the_observed_alert(patient, cycle, nurse, settings):
    settings.TIME_ZONE = "Europe/London"
    # A bare local time in the hour the clocks went back: kept, not guessed.
    report = _import("MRN001,2026-10-25T01:30,<0.1,10^9/L,DST-1")
    assert len(report.kept) == 1 and not CountResult.objects.exists()
    alert = _held().get()
    assert "ANC <0.1 x10^9/L held for review, not stored (collected 2026-10-25 01:30)" in alert.message
    assert "as received it is 0.100 x10^9/L, grade 4" in alert.message
    kept = ImportException.objects.get()
    outcome = exceptions_queue.fix(kept.pk, {**kept.values, "collected_at": "2026-10-25T01:30+01:00"}, nurse)
    assert outcome.done, outcome.message
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert CountResult.objects.get().anc_1e9_per_l == Decimal("0.100")  # stored as the nurse fixed it


def test_held_counts_that_are_not_grade_3_or_4_raise_nothing_and_unreadable_ones_their_own_alert(patient, cycle):
    _import(f"MRN001,{_at(3)},1.90,10^9/L,ACC-1", f"MRN001,{_at(2)},1.20,10^9/L,ACC-2")
    report = _import(f"MRN001,{_at(3)},1.5,10^9/L,ACC-1",  # a conflict at grade 1-2
                     f"MRN001,{_at(2)},0.3,mmol/L,ACC-3",  # a unit that is not a count's
                     f"NOBODY,{_at(2)},0.2,10^9/L,ACC-4")  # no known patient: no team to tell
    assert len(report.kept) == 3
    assert not _held().exists()
    # The count in a unit that is not a count's cannot be read: "unreadable count held" (issue 21, item 5).
    assert Alert.objects.get(kind=Alert.Kind.UNREADABLE_HELD).evidence["received"] == "ANC 0.3 mmol/L"


def test_the_alert_stays_while_another_held_count_is_open(patient, cycle, nurse):
    _import(f"MRN001,{_at(5)},1.10,10^9/L,A-1", f"MRN001,{_at(4)},0.80,10^9/L,A-2")
    _import(f"MRN001,{_at(5)},0.4,10^9/L,A-1", f"MRN001,{_at(4)},0.7,10^9/L,A-2")
    alert = _held().get()
    assert "ANC 0.4 x10^9/L held" in alert.message and "(1 more held)" in alert.message
    first, second = ImportException.objects.order_by("pk")
    exceptions_queue.dismiss(first.pk, nurse, "lab confirms")
    alert.refresh_from_db()
    assert alert.resolved_at is None  # the 0.7 is still held
    exceptions_queue.dismiss(second.pk, nurse, "lab confirms")
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_held_count_of_a_patient_in_a_cycle_does_not_say_she_has_no_active_cycle(patient, cycle, nurse_client):
    # A held alert belongs to the patient, not to a cycle: it read "no active cycle" for a patient on day 15.
    from monitoring.transports import email

    _import(f"MRN001,{_at(1)},80,10^9/L,ACC-80")
    alert = _held().get()
    pages = [nurse_client.get(url).content.decode() for url in (f"/patients/{patient.pk}/", "/alerts/")]
    assert all("Grade 3-4 count held for review" in page and "no active cycle" not in page for page in pages)
    assert "no active cycle" not in email.body(alert.deliveries.filter(channel=Delivery.Channel.EMAIL).first())

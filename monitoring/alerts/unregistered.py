"""Results for an MRN nobody has registered: a grade 3-4 count or a raised temperature is told at once.

Such a result waits in the exceptions queue (labfeed quarantine) with no patient and so no team. It
may be a neutropenic patient's, sent before the registration, so a grade 3-4 count (under any
reading, clinical.held_readings) or a temperature of 38.0 C or more (read in its unit and the other,
clinical.held_temperature_readings) raises a critical alert with no patient, delivered to a named
list (alerts.recipients.unregistered_recipients) and escalated like any critical. Closing its
exception (re-tried once the MRN is registered, or dismissed) resolves it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring import clinical
from monitoring.alerts import rules
from monitoring.alerts.delivery import create_deliveries, dispatch
from monitoring.alerts.held import held_count_readings, held_received
from monitoring.alerts.recipients import notifications
from monitoring.models import Alert, ImportException, Patient


def alert_unregistered(exceptions: list[ImportException], now: datetime | None = None) -> list[Alert]:
    """Raise one critical alert for each new exception holding a grade 3-4 count or a fever of an unregistered MRN.

    Called in the importing transaction with the exceptions it has just created (a record re-sent
    joins its open exception, so it is told once). Deliveries are written now, sent on commit.
    """
    now = now or timezone.now()
    candidates = [e for e in exceptions if e.patient_id is None and e.mrn]
    if not candidates:
        return []
    registered = set(Patient.objects.filter(mrn__in={e.mrn for e in candidates}).values_list("mrn", flat=True))
    raised = []
    for exception in candidates:
        if exception.mrn in registered:
            continue  # a patient outside the sender's scope: not an unregistered MRN
        finding = rules.unregistered_result(_result(exception))
        if finding is not None:
            raised.append(Alert(patient=None, cycle=None, import_exception=exception, kind=finding.kind,
                                severity=finding.severity, message=finding.message, evidence=finding.evidence,
                                raised_at=now))
    if raised:
        bulk_create_with_history(raised, Alert)  # issue 25: every alert has its history from the start
        deliveries = create_deliveries(notifications(raised))
        transaction.on_commit(lambda: dispatch(deliveries))
    return raised


def resolve_unregistered(exception_id: int, now: datetime | None = None) -> int:
    """Resolve the alert of a closed exception (re-tried after registration, or dismissed); return how many."""
    return Alert.objects.filter(import_exception_id=exception_id, kind=Alert.Kind.UNREGISTERED_RESULT,
                                resolved_at__isnull=True).update(resolved_at=now or timezone.now(),
                                                                 cleared_at=now or timezone.now())


def _result(exception: ImportException) -> rules.UnregisteredResult:
    values = exception.values
    collected = values.get("collected_at", "")[:16].replace("T", " ")
    if values.get("temperature"):
        unit = values.get("temperature_unit") or "C"
        try:  # read in its unit and the other (101.3 "C" is 38.50 °C if it is °F): the hottest reading
            readings = clinical.held_temperature_readings(
                clinical.to_decimal(values["temperature"], "temperature"), values.get("temperature_unit") or "")
        except (clinical.ClinicalValueError, ArithmeticError):
            readings = []
        celsius = max((reading for _, reading in readings), default=None)
        return rules.UnregisteredResult(exception.pk, exception.mrn, f"Temperature {values['temperature']} {unit}",
                                        collected, temperature_c=celsius)
    return rules.UnregisteredResult(exception.pk, exception.mrn, held_received(values), collected,
                                    readings=tuple(held_count_readings(None, values)))

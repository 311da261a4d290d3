"""An alert's life: raised for a condition, kept while it lasts, cleared, acknowledged, resolved.

Each alert is raised for a *condition* of a cycle (or of a patient without an active cycle) and
stays the one live alert for it while the condition lasts (database constraints allow one
unresolved alert per cycle and kind, and per patient and kind without a cycle). So a condition
that persists over many results raises one alert, and a duplicate result none. When the condition
clears, a low, medium or high alert is resolved; a critical one records `cleared_at` but stays
open, and keeps escalating, until a person acknowledges it (acknowledging it then resolves it).

Deliveries of a raised alert are written in the same transaction (`recipients`), and sent after
commit (`delivery.dispatch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring.alerts import chain_hooks, rules
from monitoring.alerts.delivery import create_deliveries, dispatch
from monitoring.alerts.recipients import notifications
from monitoring.alerts.state import LiveAlert, PatientAlerts
from monitoring.models import Alert, Cycle, Patient


@dataclass(frozen=True)
class Verdict:
    """What the rules found for one patient's cycle (or the patient alone, cycle None)."""

    patient: Patient
    cycle: Cycle | None
    findings: list[rules.Finding]


def apply_verdicts(verdicts: list[Verdict], kinds, now: datetime, *,
                   alerts: PatientAlerts | None = None) -> list[Alert]:
    """Raise, keep, clear or resolve the alerts of `kinds` for each verdict; return the alerts raised.

    A fixed number of queries for the whole list, plus one update per alert whose state changes.
    `alerts`: the patients' alerts, if the caller loaded them after taking its locks.
    """
    if not verdicts:
        return []
    if alerts is None:
        alerts = PatientAlerts.load({v.patient.pk for v in verdicts})
    raised: list[Alert] = []
    for verdict in verdicts:
        cycle_id = verdict.cycle.pk if verdict.cycle is not None else None
        found = {f.kind: f for f in verdict.findings if f.kind in kinds}
        for kind in kinds:
            alert = alerts.live.get((verdict.patient.pk, cycle_id, kind))
            if alert is not None:
                _update_live(alert, found.get(kind), now)
            elif kind in found and _should_raise(found[kind], verdict.patient.pk, cycle_id, alerts):
                f = found[kind]
                raised.append(Alert(patient=verdict.patient, cycle=verdict.cycle, kind=f.kind, severity=f.severity,
                                    message=f.message, evidence=f.evidence, raised_at=now, cleared_at=f.cleared_at))
    if raised:
        bulk_create_with_history(raised, Alert)  # issue 25: an alert's history starts when it is raised
        deliveries = create_deliveries(notifications(raised))
        transaction.on_commit(lambda: dispatch(deliveries))
        chain_hooks.alerts_raised(raised, now)
    return raised


def _update_live(alert: LiveAlert, finding: rules.Finding | None, now: datetime) -> None:
    """Keep a live alert whose condition holds; clear or resolve one whose condition is gone.

    A critical alert nobody has acknowledged is never resolved here: it records when its
    condition cleared and stays open (and escalates) until acknowledged.
    """
    rows = Alert.objects.filter(pk=alert.pk)
    if finding is not None and finding.cleared_at is None:
        if alert.cleared_at is not None:
            rows.update(cleared_at=None)  # the condition is back
        if finding.severity > alert.severity:
            chain_hooks.alert_worsened(alert.pk, finding.severity, finding.message, finding.evidence, now)
        return
    cleared_at = alert.cleared_at or (finding.cleared_at if finding is not None else None) or now
    if alert.severity >= Alert.Severity.CRITICAL and alert.acknowledged_at is None:
        if alert.cleared_at is None and rows.filter(acknowledged_at__isnull=True).update(cleared_at=cleared_at):
            return
        if alert.cleared_at is not None:
            return
    rows.update(cleared_at=cleared_at, resolved_at=now)


def _should_raise(finding: rules.Finding, patient_id: int, cycle_id: int | None,
                  alerted: PatientAlerts) -> bool:
    """Return False for a condition already over that needs no new alert.

    A condition that has already cleared is still raised when critical (a grade 4 count that
    arrived after the recovery count, for instance), but only once for the same count.
    """
    if finding.cleared_at is None:
        return True
    if finding.severity < Alert.Severity.CRITICAL:
        return False
    count_id = finding.evidence.get("count_id")
    return count_id is None or (patient_id, cycle_id, finding.kind, count_id) not in alerted


def acknowledge_alert(alert_id: int, user, note: str, now: datetime | None = None,
                      antibiotics_given_at: datetime | None = None) -> bool:
    """Acknowledge an open alert with a note; return False if it was already acknowledged.

    An alert whose condition has cleared (`cleared_at`) is resolved by its acknowledgement.

    A conditional update, so two nurses acknowledging at once record one acknowledgement.
    `antibiotics_given_at` (febrile neutropenia) feeds the time-to-antibiotic figure.
    """
    now = now or timezone.now()
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert_id, acknowledged_at__isnull=True).update(
            acknowledged_at=now, acknowledged_by=user, acknowledgement_note=note.strip(),
            antibiotics_given_at=antibiotics_given_at,
        )
        # A critical alert whose condition has already cleared was kept open for this: close it.
        Alert.objects.filter(pk=alert_id, cleared_at__isnull=False, resolved_at__isnull=True).update(resolved_at=now)
        if updated:
            chain_hooks.alert_acknowledged(alert_id, now)
    return bool(updated)

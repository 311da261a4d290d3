"""An alert's life: raised for a condition, kept while it lasts, worsened, cleared, acknowledged, resolved.

Each alert is raised for a *condition* of a cycle (or of a patient without an active cycle) and
stays the one live alert for it while the condition lasts (database constraints allow one
unresolved alert per cycle and kind, and per patient and kind without a cycle). So a condition
that persists over many results raises one alert, and a duplicate result none. When the condition
clears, a low, medium or high alert is resolved; a critical one records `cleared_at` but stays
open, and keeps escalating, until a person acknowledges it (acknowledging it then resolves it).

Acknowledged is not resolved (issue 21): an acknowledged alert stays live, "in hand", while its
condition lasts, and its latest evidence is refreshed at every evaluation (`latest_message`,
`latest_evidence`) beside what raised it. Worse is news: a live alert, acknowledged or not, whose
condition worsens (`rules.worsening`), or a lesser one a graver condition replaces
(`rules.SUPERSEDES`: grade 3 by grade 4, "fever, status unknown" by febrile neutropenia), is
resolved as superseded and a new alert, linked to it, is raised with the change in words: so it
is unacknowledged, in-app to the team at once, and emailed and escalated like any new alert of
its severity. A superseded fever alert hands on its antibiotic time and, if nobody had acknowledged
it, its escalation: one fever is one critical, escalated once (one in hand hands on no escalation:
the worse alert is news). A hotter fever in hand is worse too (`rules.worsening`). Every change is
an `AlertEvent` row, written in the same transaction.

Deliveries of a raised alert are written in the same transaction (`recipients`), and sent after
commit (`delivery.dispatch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring.alerts import chain_hooks, rules
from monitoring.alerts.delivery import create_deliveries, dispatch
from monitoring.alerts.recipients import notifications
from monitoring.alerts.state import LiveAlert, PatientAlerts
from monitoring.models import Alert, AlertEvent, Cycle, Patient


@dataclass(frozen=True)
class Verdict:
    """What the rules found for one patient's cycle (or the patient alone, cycle None)."""

    patient: Patient
    cycle: Cycle | None
    findings: list[rules.Finding]


@dataclass
class _Pass:
    """What one apply_verdicts call raises, replaces and records."""

    now: datetime
    raised: list[Alert] = field(default_factory=list)
    replaced: list[list[LiveAlert]] = field(default_factory=list)  # per raised alert, the alerts it replaces
    done: set[int] = field(default_factory=set)  # live alerts replaced in this pass
    events: list[AlertEvent] = field(default_factory=list)

    def event(self, alert_id: int, kind: str, words: str = "", evidence: dict | None = None) -> None:
        self.events.append(AlertEvent(alert_id=alert_id, kind=kind, at=self.now, words=words,
                                      evidence=evidence or {}))


def apply_verdicts(verdicts: list[Verdict], kinds, now: datetime, *,
                   alerts: PatientAlerts | None = None) -> list[Alert]:
    """Raise, keep, refresh, worsen, clear or resolve the alerts of `kinds` for each verdict.

    Returns the alerts raised (new conditions and worsened ones). A fixed number of queries for
    the whole list, plus one update per alert whose state changes.
    `alerts`: the patients' alerts, if the caller loaded them after taking its locks.
    """
    if not verdicts:
        return []
    if alerts is None:
        alerts = PatientAlerts.load({v.patient.pk for v in verdicts})
    tz = timezone.get_current_timezone()
    work = _Pass(now)
    for verdict in verdicts:
        cycle_id = verdict.cycle.pk if verdict.cycle is not None else None
        found = {f.kind: f for f in verdict.findings if f.kind in kinds}
        for kind in kinds:
            alert, finding = alerts.live.get((verdict.patient.pk, cycle_id, kind)), found.get(kind)
            if alert is not None and alert.pk not in work.done:
                change = _update_live(alert, finding, work, tz)
                if change is not None:
                    _raise(verdict, finding, work, [alert], change)
            elif finding is not None and _should_raise(finding, verdict.patient.pk, cycle_id, alerts):
                lesser = _lesser_live(verdict.patient.pk, cycle_id, kind, alerts, work)
                words = "; ".join(rules.transition(Alert.Kind(a.kind).label, a.shown, finding, tz) for a in lesser)
                _raise(verdict, finding, work, lesser, words or None)
    if work.raised:
        _store(work)
    AlertEvent.objects.bulk_create(work.events)
    return work.raised


def _raise(verdict: Verdict, finding: rules.Finding, work: _Pass, replaced: list[LiveAlert],
           change: str | None) -> None:
    """Queue a new alert for `finding`; it replaces `replaced`, with the `change` in words."""
    evidence, message = dict(finding.evidence), finding.message
    alert = Alert(patient=verdict.patient, cycle=verdict.cycle, kind=finding.kind, severity=finding.severity,
                  message=message, evidence=evidence, raised_at=work.now, cleared_at=finding.cleared_at)
    if change:
        alert.message = f"Worse: {change}. {message}"
        evidence.update(change=change, replaces=[a.pk for a in replaced])
        # One fever, one escalation: a fever alert nobody has acknowledged hands on its own to the alert
        # that replaces it. One in hand hands on nothing: the worse alert is news, and escalates if unseen.
        same_fever = [a for a in replaced if a.kind == rules.FEVER_UNKNOWN_ANC and a.acknowledged_at is None]
        alert.escalated_at = min((a.escalated_at for a in same_fever if a.escalated_at), default=None)
        alert.antibiotics_given_at = min((a.antibiotics_given_at for a in replaced if a.antibiotics_given_at),
                                         default=None)
    for old in replaced:
        work.done.add(old.pk)
        Alert.objects.filter(pk=old.pk).update(resolved_at=Coalesce(F("resolved_at"), work.now))
    work.raised.append(alert)
    work.replaced.append(replaced)


def _store(work: _Pass) -> None:
    """Write the raised alerts, link the replaced ones, and write the deliveries and history.

    Each raised alert starts its team's escalation chain (issue 24); a replaced alert is resolved,
    which stops the steps of its own chain (the auditor fires steps of live alerts only).
    """
    bulk_create_with_history(work.raised, Alert)  # issue 25: an alert's history starts when it is raised
    rows = notifications(work.raised)
    deliveries = create_deliveries(rows)
    told: dict[int, list[str]] = {}
    for row in rows:
        told.setdefault(row.alert_id, []).append(f"{row.channel}:{row.recipient}")
    for alert, replaced in zip(work.raised, work.replaced, strict=True):
        kind = AlertEvent.Kind.WORSENED if replaced else AlertEvent.Kind.RAISED
        work.events.append(AlertEvent(alert=alert, kind=kind, at=work.now, words=alert.evidence.get("change", ""),
                                      evidence=alert.evidence, told=told.get(alert.pk, [])))
        for old in replaced:
            Alert.objects.filter(pk=old.pk).update(superseded_by=alert)
            work.event(old.pk, AlertEvent.Kind.SUPERSEDED, f"replaced by alert {alert.pk}: "
                       f"{alert.evidence.get('change', '')}", {"by": alert.pk})
    transaction.on_commit(lambda: dispatch(deliveries))
    chain_hooks.alerts_raised(work.raised, work.now)
    for replaced in work.replaced:
        for old in replaced:
            chain_hooks.alert_superseded(old.pk, work.now)


def _lesser_live(patient_id: int, cycle_id: int | None, kind: str, alerts: PatientAlerts,
                 work: _Pass) -> list[LiveAlert]:
    """Return the patient's live alerts of the kinds `kind` replaces (this cycle's, or without a cycle)."""
    lesser = []
    for other in rules.SUPERSEDES.get(kind, ()):
        for key in {(patient_id, cycle_id, other), (patient_id, None, other)}:
            alert = alerts.live.get(key)
            if alert is not None and alert.pk not in work.done:
                lesser.append(alert)
    return lesser


def _update_live(alert: LiveAlert, finding: rules.Finding | None, work: _Pass, tz) -> str | None:
    """Keep, refresh or clear a live alert; return the change in words if its condition worsened.

    A critical alert nobody has acknowledged is never resolved here: it records when its
    condition cleared and stays open (and escalates) until acknowledged.
    """
    rows, now = Alert.objects.filter(pk=alert.pk), work.now
    if finding is not None and finding.cleared_at is None:
        if alert.cleared_at is not None:
            rows.update(cleared_at=None)  # the condition is back
            work.event(alert.pk, AlertEvent.Kind.RETURNED, "the condition is back", finding.evidence)
        change = rules.worsening(alert.kind, alert.severity, alert.shown, finding,
                                 acknowledged=alert.acknowledged_at is not None, tz=tz)
        if change is None:
            _refresh(alert, finding, work)
        return change
    if finding is not None:
        _refresh(alert, finding, work)
    cleared_at = alert.cleared_at or (finding.cleared_at if finding is not None else None) or now
    if alert.severity >= Alert.Severity.CRITICAL and alert.acknowledged_at is None:
        if alert.cleared_at is None and rows.filter(acknowledged_at__isnull=True).update(cleared_at=cleared_at):
            work.event(alert.pk, AlertEvent.Kind.CLEARED, "condition cleared; open until acknowledged",
                       finding.evidence if finding is not None else {})
            return None
        if alert.cleared_at is not None:
            return None
    rows.update(cleared_at=cleared_at, resolved_at=now)
    work.event(alert.pk, AlertEvent.Kind.RESOLVED, "condition cleared", finding.evidence if finding else {})
    return None


def _refresh(alert: LiveAlert, finding: rules.Finding, work: _Pass) -> None:
    """Store the finding of now as the alert's latest words and evidence, if they changed."""
    if finding.evidence == alert.shown and finding.message == alert.message:
        return
    Alert.objects.filter(pk=alert.pk).update(latest_message=finding.message, latest_evidence=finding.evidence,
                                             latest_at=work.now)
    if finding.evidence != alert.shown:
        work.event(alert.pk, AlertEvent.Kind.UPDATED, "", finding.evidence)


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

    An alert whose condition has cleared (`cleared_at`) is resolved by its acknowledgement; one
    whose condition lasts stays live, "in hand" (issue 21).

    A conditional update, so two nurses acknowledging at once record one acknowledgement.
    `antibiotics_given_at` (febrile neutropenia) feeds the time-to-antibiotic figure; without it,
    a time already recorded (or handed on by the alert this one replaced) is kept.
    """
    now = now or timezone.now()
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert_id, acknowledged_at__isnull=True).update(
            acknowledged_at=now, acknowledged_by=user, acknowledgement_note=note.strip(),
            antibiotics_given_at=Coalesce(antibiotics_given_at, F("antibiotics_given_at")),
        )
        if updated:
            AlertEvent.objects.create(alert_id=alert_id, kind=AlertEvent.Kind.ACKNOWLEDGED, at=now, by=user,
                                      words=note.strip(), evidence=_antibiotics_evidence(antibiotics_given_at))
        # A critical alert whose condition has already cleared was kept open for this: close it.
        if Alert.objects.filter(pk=alert_id, cleared_at__isnull=False, resolved_at__isnull=True).update(
                resolved_at=now):
            AlertEvent.objects.create(alert_id=alert_id, kind=AlertEvent.Kind.RESOLVED, at=now, by=user,
                                      words="acknowledged after its condition cleared")
        if updated:
            chain_hooks.alert_acknowledged(alert_id, now)
    return bool(updated)


def record_antibiotics(alert_id: int, user, given_at: datetime, now: datetime | None = None) -> bool:
    """Record when empirical antibiotics were given for an alert, after (or without) its acknowledgement.

    The time can be corrected: the last one recorded stands, and each is kept in the history.
    Returns False if the alert does not exist.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if not Alert.objects.filter(pk=alert_id).update(antibiotics_given_at=given_at):
            return False
        AlertEvent.objects.create(alert_id=alert_id, kind=AlertEvent.Kind.ANTIBIOTICS, at=now, by=user,
                                  evidence=_antibiotics_evidence(given_at))
    return True


def _antibiotics_evidence(given_at: datetime | None) -> dict:
    return {"antibiotics_given_at": given_at.isoformat()} if given_at else {}

"""The calls the alert code makes into the duty package: one line at each place (issue 24).

Kept apart so that the alert modules import one small surface: raising starts chains, a live
alert that worsens restarts its chain, acknowledging stops it, and the legacy 30-minute
escalation leaves alerts with a chain to their chain.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from monitoring.models import Alert


def alerts_raised(alerts: list[Alert], now: datetime) -> None:
    """Start the team's escalation chain on each newly raised alert (in the raising transaction)."""
    from monitoring.alerts import timers

    timers.start_chains(alerts, now)


def alert_worsened(alert_id: int, severity: int, message: str, evidence: dict, now: datetime) -> None:
    """Raise a live alert's severity to what its condition now is, and start its chain again.

    An acknowledgement of the milder alert does not cover the worse one: it is cleared (the note is
    kept, and the evidence says when it was given), so the chain runs and someone acknowledges again.
    """
    from monitoring.alerts import timers

    alert = Alert.objects.filter(pk=alert_id, severity__lt=severity).first()
    if alert is None:
        return
    if alert.acknowledged_at is not None:
        evidence = {**evidence, "acknowledged_before_worsening_at": alert.acknowledged_at.isoformat()}
    Alert.objects.filter(pk=alert_id).update(severity=severity, message=message, evidence=evidence,
                                             acknowledged_at=None, acknowledged_by=None)
    timers.restart(alert_id, now)


def alert_acknowledged(alert_id: int, now: datetime) -> None:
    """Stop every pending step of the alert's chain and its chain deliveries not yet sent."""
    from monitoring.alerts import timers

    timers.stop(alert_id, now, "acknowledged")


def alert_superseded(alert_id: int, now: datetime) -> None:
    """Stop the chain of an alert replaced by a worse one (the new alert has started its own)."""
    from monitoring.alerts import timers

    timers.stop(alert_id, now, "superseded by a worse alert")


def without_chain() -> Q:
    """Return the condition for alerts the legacy escalation (escalate_due) still handles."""
    return Q(escalation__isnull=True)

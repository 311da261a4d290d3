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
    from monitoring.duty import timers

    timers.start_chains(alerts, now)


def alert_worsened(alert_id: int, severity: int, message: str, evidence: dict, now: datetime) -> None:
    """Raise a live alert's severity to what its condition now is, and start its chain again."""
    from monitoring.duty import timers

    Alert.objects.filter(pk=alert_id, severity__lt=severity).update(severity=severity, message=message,
                                                                     evidence=evidence)
    timers.restart(alert_id, now)


def alert_acknowledged(alert_id: int, now: datetime) -> None:
    """Stop every pending step of the alert's chain and its chain deliveries not yet sent."""
    from monitoring.duty import timers

    timers.stop(alert_id, now, "acknowledged")


def without_chain() -> Q:
    """Return the condition for alerts the legacy escalation (escalate_due) still handles."""
    return Q(escalation__isnull=True)

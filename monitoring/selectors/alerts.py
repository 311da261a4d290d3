"""The alert inbox and the menu's count of open alerts, scoped to the user's teams."""

from __future__ import annotations

from django.db.models import Q
from django.db.models.functions import Coalesce

from monitoring.alerts.presentation import alert_order
from monitoring.models import Alert, Patient


def visible_alerts(user):
    """Return the alerts of the user's teams' patients (the team scoping of the inbox)."""
    return Alert.objects.filter(patient__in=Patient.objects.visible_to(user))


def alert_inbox(user, history_limit: int = 100) -> dict:
    """Return open alerts (most severe first) and the latest acknowledged or resolved ones."""
    alerts = visible_alerts(user).select_related(
        "patient__team", "patient__responsible_nurse", "cycle__course__regimen", "acknowledged_by"
    )
    open_alerts = sorted(alerts.filter(resolved_at__isnull=True, acknowledged_at__isnull=True), key=alert_order)
    history = list(
        alerts.filter(Q(acknowledged_at__isnull=False) | Q(resolved_at__isnull=False))
        .order_by(Coalesce("acknowledged_at", "resolved_at").desc(), "-pk")[:history_limit]
    )
    return {"open": open_alerts, "history": history}


def open_alert_count(user) -> int:
    """Return how many open alerts the user's teams have (the number in the menu)."""
    return visible_alerts(user).filter(resolved_at__isnull=True, acknowledged_at__isnull=True).count()


"""The alert inbox and the menu's count of open alerts, scoped to the user's teams."""

from __future__ import annotations

from django.db.models import Q
from django.db.models.functions import Coalesce

from monitoring.alerts.presentation import alert_order
from monitoring.models import Alert, AlertEvent, Delivery, Patient


def visible_alerts(user):
    """Return the alerts of the user's teams' patients (the team scoping of the inbox), and the alerts
    of an unregistered MRN's results she was told of in-app (alerts.unregistered)."""
    told = Delivery.objects.filter(alert__patient__isnull=True, channel=Delivery.Channel.INAPP,
                                   recipient=user.get_username()).values("alert_id")
    return Alert.objects.filter(Q(patient__in=Patient.objects.visible_to(user)) | Q(pk__in=told))


def alert_inbox(user, history_limit: int = 100) -> dict:
    """Return open alerts (most severe first), those in hand, and the latest resolved ones.

    In hand: acknowledged while the condition lasts (issue 21); they leave the inbox's open list
    but stay on it until the condition clears.
    """
    alerts = visible_alerts(user).select_related(
        "patient__team", "patient__responsible_nurse", "cycle__course__regimen", "acknowledged_by"
    )
    live = alerts.filter(resolved_at__isnull=True)
    open_alerts = sorted(live.filter(acknowledged_at__isnull=True), key=alert_order)
    in_hand = sorted(live.filter(acknowledged_at__isnull=False), key=alert_order)
    attach_events(open_alerts + in_hand, AlertEvent.objects.filter(alert__in=live))
    history = list(
        alerts.filter(resolved_at__isnull=False)
        .order_by(Coalesce("acknowledged_at", "resolved_at").desc(), "-pk")[:history_limit]
    )
    return {"open": open_alerts, "in_hand": in_hand, "history": history}


def attach_events(alerts: list[Alert], events) -> None:
    """Set `alert.timeline`, its AlertEvent rows oldest first, on each alert (one query for all).

    Not `history` (the django-simple-history manager) nor `events` (the reverse relation).
    """
    by_alert: dict[int, list[AlertEvent]] = {}
    for event in events.select_related("by").order_by("at", "pk"):
        by_alert.setdefault(event.alert_id, []).append(event)
    for alert in alerts:
        alert.timeline = by_alert.get(alert.pk, [])


def open_alert_count(user) -> int:
    """Return how many open alerts the user's teams have (the number in the menu)."""
    return visible_alerts(user).filter(resolved_at__isnull=True, acknowledged_at__isnull=True).count()


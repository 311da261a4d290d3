"""Escalation: an unacknowledged, unresolved critical alert, ESCALATE_AFTER_MINUTES after it was
raised, is emailed to Team.escalation_email (and sent to the webhook, marked "escalate")."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from monitoring.alerts import chain_hooks
from monitoring.alerts.delivery import create_deliveries, dispatch
from monitoring.alerts.recipients import unregistered_recipients
from monitoring.models import Alert, AlertEvent, Delivery

log = logging.getLogger(__name__)


def escalate_due(now: datetime | None = None) -> int:
    """Escalate every critical alert left unacknowledged too long; return how many.

    Acknowledging (alerts.acknowledge_alert) stops escalation: an acknowledged alert is
    never claimed here, and an escalation not yet sent when it is acknowledged is dropped.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.NEUTROWATCH["ESCALATE_AFTER_MINUTES"])
    unattended = Q(acknowledged_at__isnull=True, resolved_at__isnull=True, escalated_at__isnull=True)
    due = Alert.objects.filter(unattended, chain_hooks.without_chain(), severity=Alert.Severity.CRITICAL,
                               raised_at__lte=cutoff)
    escalated = 0
    for alert_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            if not Alert.objects.filter(unattended, pk=alert_id).update(escalated_at=now):
                continue  # acknowledged, resolved or escalated by someone else meanwhile
            alert = Alert.objects.select_related("patient__team").get(pk=alert_id)
            rows = _escalations(alert)
            deliveries = create_deliveries(rows)
            AlertEvent.objects.create(alert=alert, kind=AlertEvent.Kind.ESCALATED, at=now,
                                      told=[f"{row.channel}:{row.recipient}" for row in rows])
            transaction.on_commit(lambda d=deliveries: dispatch(d))
            escalated += 1
    return escalated


def _escalations(alert: Alert) -> list[Delivery]:
    if alert.patient is None:  # a result of an unregistered MRN: escalate to the same named list by email
        _, emails = unregistered_recipients()
        return [Delivery(alert=alert, channel=Delivery.Channel.EMAIL, purpose=Delivery.Purpose.ESCALATE,
                         recipient=email) for email in emails]
    team = alert.patient.team
    rows = []
    if team.escalation_email:
        rows.append(Delivery(alert=alert, channel=Delivery.Channel.EMAIL, purpose=Delivery.Purpose.ESCALATE,
                             recipient=team.escalation_email))
    if team.webhook_url:
        rows.append(Delivery(alert=alert, channel=Delivery.Channel.WEBHOOK, purpose=Delivery.Purpose.ESCALATE,
                             recipient=team.webhook_url))
    if not rows:
        log.warning("alert %s is due for escalation but team %s has no escalation contact", alert.pk, team)
    return rows

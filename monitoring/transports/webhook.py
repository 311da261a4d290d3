"""Webhook: the alert as JSON, POSTed to the team's URL and signed with the team's secret.

Headers: `X-NeutroWatch-Timestamp` (Unix seconds) and `X-NeutroWatch-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with Team.webhook_secret>`. The receiver
recomputes the HMAC over the raw body and rejects old timestamps (replays).

Webhooks are delivered at least once: a timeout or a worker killed mid-send means the same
delivery may arrive again. `Idempotency-Key: nw-delivery-<delivery_id>` (and `delivery_id` in
the body) is the same on every attempt, so the receiver de-duplicates on it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request

from django.conf import settings

from monitoring.transports import TransportError, post


def send(delivery) -> None:
    team = delivery.alert.patient.team
    if not team.webhook_secret:
        raise TransportError(f"team {team} has a webhook URL but no secret to sign with", permanent=True)
    timestamp = str(int(time.time()))
    body = json.dumps(payload(delivery), sort_keys=True).encode()
    request = urllib.request.Request(delivery.recipient, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "NeutroWatch-webhook/1",
        "X-NeutroWatch-Timestamp": timestamp,
        "Idempotency-Key": idempotency_key(delivery),
        "X-NeutroWatch-Signature": "sha256=" + signature(team.webhook_secret, timestamp, body),
    })
    post(request, settings.NEUTROWATCH["WEBHOOK_TIMEOUT_SECONDS"], "webhook")


def idempotency_key(delivery) -> str:
    """Return the key that is the same on every attempt of one delivery."""
    return f"nw-delivery-{delivery.pk}"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the team's secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def payload(delivery) -> dict:
    """Return the JSON document: the alert, identified by MRN and initials only."""
    alert = delivery.alert
    return {
        "delivery_id": delivery.pk,
        "purpose": delivery.purpose,
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "severity": alert.get_severity_display().lower(),
            "severity_level": alert.severity,
            "title": alert.title,  # the e-mail's subject and the SMS say the alert by its title
            "message": alert.message,
            "evidence": alert.evidence,
            "raised_at": alert.raised_at.isoformat(),
            # Cleared (the condition is over) but not acknowledged: the e-mail and SMS say "cleared, not seen".
            "cleared_at": alert.cleared_at.isoformat() if alert.cleared_at else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        },
        "patient": {"mrn": alert.patient.mrn, "initials": alert.patient.initials},
        "cycle": {"id": alert.cycle_id, "number": alert.cycle.number} if alert.cycle_id else None,
    }

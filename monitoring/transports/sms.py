"""SMS (or pager) through an HTTP SMS gateway: one POST per message, configured by settings.

NEUTROWATCH settings: SMS_GATEWAY_URL; SMS_GATEWAY_PAYLOAD, a `string.Template` whose `$to`,
`$body` and `$key` are replaced by JSON strings (so the default template is JSON), or, when the
content type is application/x-www-form-urlencoded, by form-encoded values (`to=$to&text=$body`: an
"&" or "+" in a text stays in it); SMS_GATEWAY_CONTENT_TYPE;
SMS_GATEWAY_AUTH_HEADER ("Name: value", e.g. "Authorization: Bearer ..."); SMS_GATEWAY_TIMEOUT_SECONDS.

Delivered at least once, like the webhook: `Idempotency-Key: nw-delivery-<delivery id>` (and `$key`)
is the same on every attempt, so a gateway that de-duplicates sends one text. The text carries the
MRN and initials only: an SMS leaves the hospital's systems.
"""

from __future__ import annotations

import json
import string
import urllib.parse
import urllib.request

from django.conf import settings

from monitoring.transports import TransportError, post
from monitoring.transports.webhook import idempotency_key

# Long texts are split by the network into parts and cost more; keep one alert to about two parts.
MAX_TEXT_CHARS = 300
FORM = "application/x-www-form-urlencoded"


def send(delivery) -> None:
    config = settings.NEUTROWATCH
    if not config["SMS_GATEWAY_URL"]:
        raise TransportError("no SMS gateway is configured (SMS_GATEWAY_URL)", permanent=True)
    request = urllib.request.Request(config["SMS_GATEWAY_URL"], data=payload(delivery).encode(), method="POST",
                                     headers=headers(delivery))
    post(request, config["SMS_GATEWAY_TIMEOUT_SECONDS"], "SMS gateway")


def headers(delivery) -> dict[str, str]:
    """Return the request headers: content type, idempotency key and the gateway's auth header."""
    config = settings.NEUTROWATCH
    result = {"Content-Type": config["SMS_GATEWAY_CONTENT_TYPE"], "User-Agent": "NeutroWatch-sms/1",
              "Idempotency-Key": idempotency_key(delivery)}
    auth = config["SMS_GATEWAY_AUTH_HEADER"]
    if auth:
        name, _, value = auth.partition(":")
        result[name.strip()] = value.strip()
    return result


def payload(delivery) -> str:
    """Return the request body: the template with $to, $body and $key as JSON strings or form values."""
    values = {"to": delivery.recipient, "body": text(delivery), "key": idempotency_key(delivery)}
    content_type = settings.NEUTROWATCH["SMS_GATEWAY_CONTENT_TYPE"].split(";", 1)[0].strip().lower()
    encode = urllib.parse.quote_plus if content_type == FORM else json.dumps
    return string.Template(settings.NEUTROWATCH["SMS_GATEWAY_PAYLOAD"]).substitute(
        {name: encode(value) for name, value in values.items()})


def text(delivery) -> str:
    """Return the message: severity, what, MRN and initials, where to acknowledge."""
    alert = delivery.alert
    site = settings.NEUTROWATCH["SITE_URL"].rstrip("/")
    prefix = "ESCALATED " if delivery.purpose == "escalate" else ""
    words = (f"NeutroWatch {prefix}{alert.get_severity_display().upper()}: {alert.title} - "
             f"{alert.patient.mrn} {alert.patient.initials}"
             f"{' (cleared, not seen)' if alert.cleared_at and not alert.acknowledged_at else ''}. "
             f"Acknowledge: {site}/alerts/")
    return words[:MAX_TEXT_CHARS]

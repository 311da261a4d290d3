"""One transport per alert channel: in-app inbox, email, webhook, SMS.

A transport sends one `Delivery` of one alert and either returns (sent) or raises
`TransportError`. `permanent=True` means retrying cannot help (no such recipient, the
server refused the message for good); otherwise the delivery is retried with backoff.
"""

from __future__ import annotations


class TransportError(Exception):
    """A failed send, transient unless `permanent`."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def transport_for(channel: str):
    """Return the transport module's `send(delivery)` for a Delivery.Channel value."""
    from monitoring.transports import email, inapp, sms, webhook

    return {"inapp": inapp.send, "email": email.send, "webhook": webhook.send, "sms": sms.send}[channel]

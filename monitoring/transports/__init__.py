"""One transport per alert channel: in-app inbox, email, webhook, SMS.

A transport sends one `Delivery` of one alert and either returns (sent) or raises
`TransportError`. `permanent=True` means retrying cannot help (no such recipient, the
server refused the message for good); otherwise the delivery is retried with backoff.
"""

from __future__ import annotations

import urllib.error
import urllib.request

# 408 Request Timeout and 429 Too Many Requests are worth retrying; other 4xx are not.
RETRYABLE_4XX = {408, 429}


class TransportError(Exception):
    """A failed send, transient unless `permanent`."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises the 3xx as an HTTPError


# Webhooks and SMS gateways are POSTed to and never followed elsewhere: urllib turned a POST
# answered 301-303 into a GET of the new address (the alert never arrived there) and counted its
# 200 as sent. A redirect is a final failure naming where it pointed: correct the address.
_opener = urllib.request.build_opener(_NoRedirects)


def post(request: urllib.request.Request, timeout: float, what: str) -> None:
    """Send `request`; raise TransportError for an HTTP error, a redirect or no answer (`what` names it)."""
    try:
        with _opener.open(request, timeout=timeout):
            pass
    except urllib.error.HTTPError as error:
        if 300 <= error.code < 400:
            raise TransportError(f"{what} answered HTTP {error.code}, a redirect to "
                                 f"{error.headers.get('Location', '(no address)')}: not followed; correct the "
                                 f"address", permanent=True) from error
        permanent = 400 <= error.code < 500 and error.code not in RETRYABLE_4XX
        raise TransportError(f"{what} answered HTTP {error.code}", permanent=permanent) from error
    except (urllib.error.URLError, OSError) as error:
        raise TransportError(f"{what} not reached: {error}") from error


def transport_for(channel: str):
    """Return the transport module's `send(delivery)` for a Delivery.Channel value."""
    from monitoring.transports import email, inapp, sms, webhook

    return {"inapp": inapp.send, "email": email.send, "webhook": webhook.send, "sms": sms.send}[channel]

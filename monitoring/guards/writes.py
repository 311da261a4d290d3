"""A person's own last change, so a page drawn for everyone is never older than what she just did.

The ward's rows are shared for a second between the nurses who see the same teams (views/ward_cache.py).
A nurse who acknowledges an alert or enters a count and is sent back to the ward must see it there at
once, not a second later: every request that may change something (any method but GET, HEAD, OPTIONS,
TRACE) made by a signed-in person stamps her session with the time it finished, and shared rows drawn
before that time are not shown to her. The stamp is taken after the view has returned, so after its
transaction committed; the session is saved after this middleware, on the way out.
"""

from __future__ import annotations

import time

LAST_WRITE_KEY = "nw_last_write"  # seconds since the epoch when the person's last write finished
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def last_write_s(request) -> float:
    """Return when the person's last write finished (seconds since the epoch), or 0.0 if none is known."""
    session = getattr(request, "session", None)
    return float(session.get(LAST_WRITE_KEY, 0.0)) if session is not None else 0.0


class LastWriteMiddleware:
    """Stamp the session of a signed-in person after each request that may have changed something."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (request.method not in SAFE_METHODS and user is not None and user.is_authenticated
                and hasattr(request, "session")):
            request.session[LAST_WRITE_KEY] = time.time()
        return response

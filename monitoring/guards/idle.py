"""Sessions end when the person stops: only what a person does counts as activity (issue 25 item 2).

The ward's rows refresh themselves every 30 s (htmx polling). Counted as activity, a ward page left
open on a shared computer kept its session alive for ever. Pages mark such automatic requests with
the `X-NeutroWatch-Auto-Refresh` header (see templates/monitoring/ward.html); they are answered, but
neither move the idle clock nor extend the session. Any other request (a click, a key, a form) does.
Once the idle limit (SESSION_IDLE_MINUTES) has passed since the last such request, the next request
of any kind ends the session and gets the login page.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse

AUTO_REFRESH_HEADER = "X-NeutroWatch-Auto-Refresh"
LAST_ACTIVITY_KEY = "nw_last_activity"  # seconds since the epoch of the person's last request


def now_s() -> float:
    """Return the current time in seconds since the epoch (a function, so tests can move the clock)."""
    return time.time()


def is_automatic(request) -> bool:
    """Return True for a request a page made by itself (a timed refresh), not the person."""
    return bool(request.headers.get(AUTO_REFRESH_HEADER))


class IdleSessionMiddleware:
    """End a signed-in session after SESSION_IDLE_SECONDS without a request from the person.

    Placed after the messages middleware (it leaves a word on the login page) and before
    LoginRequiredMiddleware (which then sends the signed-out request to the login page).
    With SESSION_SAVE_EVERY_REQUEST off, an automatic request changes nothing in the session, so
    the session store's own expiry is not extended by it either.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            ended = self._check(request)
            if ended is not None:
                return ended
        return self.get_response(request)

    def _check(self, request) -> HttpResponse | None:
        """Sign out an idle session (answering a timed refresh with the login page), or note the activity."""
        now = now_s()
        last = request.session.get(LAST_ACTIVITY_KEY)
        idle_limit_s = settings.SESSION_IDLE_SECONDS
        if last is not None and now - last > idle_limit_s:
            logout(request)
            limit = f"{idle_limit_s // 60} min" if idle_limit_s >= 60 else f"{idle_limit_s} s"
            messages.info(request, f"You were signed out after {limit} without activity.")
            if is_automatic(request):
                # htmx loads the login page as the whole page (not into the rows), and the word
                # above, kept in the messages cookie, is shown there rather than in a swapped-out fragment.
                response = HttpResponse(status=200)
                response["HX-Redirect"] = redirect_to_login(request.get_full_path())["Location"]
                return response
        elif last is None or not is_automatic(request):
            request.session[LAST_ACTIVITY_KEY] = int(now)
        return None

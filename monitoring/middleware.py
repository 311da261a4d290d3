"""Response headers for pages that carry patient data."""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """Send `Cache-Control: no-store` (and private, no-cache) on every page a signed-in user sees.

    Patient data must not stay in a shared ward computer's browser cache or a proxy after the
    session ends. API answers (bearer token, no session) get it too. Static files are served
    by WhiteNoise before this runs and stay cacheable.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated) or request.path.startswith("/api/"):
            add_never_cache_headers(response)
        return response

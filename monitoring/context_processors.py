from django.conf import settings

from monitoring import health


def clinic(request) -> dict:
    """Put the clinic's time zone in every template (times are shown in it)."""
    return {"clinic_time_zone": settings.TIME_ZONE}


def background(request) -> dict:
    """Put the background-processing status on every page a signed-in user sees (the banner)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"background": health.background_status()}

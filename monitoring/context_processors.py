from django.conf import settings
from django.utils.functional import SimpleLazyObject

from monitoring import health


def clinic(request) -> dict:
    """Put the clinic's time zone in every template (times are shown in it)."""
    return {"clinic_time_zone": settings.TIME_ZONE}


def open_alerts(request) -> dict:
    """Put the number of open alerts of the user's teams in the menu (counted only if shown)."""
    from monitoring.selectors import open_alert_count

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"open_alert_count": SimpleLazyObject(lambda: open_alert_count(user))}
def background(request) -> dict:
    """Put the background-processing status on every page a signed-in user sees (the banner)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"background": health.background_status()}

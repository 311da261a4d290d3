from django.conf import settings
from django.utils.functional import SimpleLazyObject, new_method_proxy

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


class _LazyCount(SimpleLazyObject):
    """A count made once, when a template first uses it; numeric, so filters like `pluralize` read it."""

    __int__ = new_method_proxy(int)
    __float__ = new_method_proxy(float)


def registrations_waiting(request) -> dict:
    """Put, for an administrator, how many nurses' registration requests wait for her in the menu.

    A nurse cannot enter results for a patient until an administrator registers her request
    (records/registration.py), so the number is on every page an administrator opens, not only on
    the new-patient page. Counted only if shown; nobody else's pages run the query.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return {}
    from monitoring.models import RegistrationRequest

    waiting = RegistrationRequest.objects.filter(status=RegistrationRequest.Status.OPEN)
    return {"registrations_waiting": _LazyCount(waiting.count)}


def background(request) -> dict:
    """Put the background-processing status on every page a signed-in user sees (the banner)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"background": health.background_status()}

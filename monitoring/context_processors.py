from django.conf import settings


def clinic(request) -> dict:
    """Put the clinic's time zone in every template (times are shown in it)."""
    return {"clinic_time_zone": settings.TIME_ZONE}

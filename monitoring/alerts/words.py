"""Words for numbers and times in alerts: clinic-time moments as a nurse says them, numbers never
rounded across a clinical boundary."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from monitoring import clinical, wording

ANC_UNIT = "×10⁹/L"  # as people write it (not "x10^9/L")


def when(moment: datetime, now: datetime) -> str:
    """Return a clinic-time moment as a nurse says it: "14:11 today", "09:00 yesterday", "Mon 24 Nov 09:00"."""
    local, today = timezone.localtime(moment), timezone.localtime(now).date()
    clock = f"{local:%H:%M}"
    named = {today: "today", today - timedelta(days=1): "yesterday", today + timedelta(days=1): "tomorrow"}
    if local.date() in named:
        return f"{clock} {named[local.date()]}"
    return f"{_day_of(local.date(), today)} {clock}"


def day_text(moment: datetime, now: datetime) -> str:
    local, today = timezone.localtime(moment).date(), timezone.localtime(now).date()
    named = {today: "today", today - timedelta(days=1): "yesterday", today + timedelta(days=1): "tomorrow"}
    return named.get(local) or _day_of(local, today)


def _day_of(day: date, today: date) -> str:
    return f"{day:%a %d %b}" if day.year == today.year else f"{day:%a %d %b %Y}"


def since(moment: datetime | None, now: datetime) -> str:
    """Return how long ago, in minutes under an hour, hours under 2 days, else days."""
    if moment is None:
        return ""
    minutes = max(0, int((now - moment).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def parse_moment(value) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value))
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def number(value, digits: int = 2) -> str:
    # Never rounded across a clinical boundary: 0.499 is not "0.50" (issue 21 item 9).
    return clinical.number_text(value, digits)


def count(value) -> str:
    """Return a measured count as received: two places at least, never fewer than the lab gave.

    The ward shows 0.325 as 0.325; rounded to 0.33 on the alert, one count read as two. A value that
    is not a number (a censored "<0.1") is returned as it is.
    """
    try:
        places = -Decimal(str(value)).normalize().as_tuple().exponent
    except (ArithmeticError, ValueError, TypeError):
        return str(value)
    return number(value, max(2, places) if isinstance(places, int) else 2)


def percent(probability) -> str:
    return wording.percent(probability, " ")

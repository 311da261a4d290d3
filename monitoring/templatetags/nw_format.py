"""Template filters for clinical numbers (plain decimals, never scientific notation) and calendar days."""

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language

from monitoring import clinical, wording
from monitoring.alerts import words
from monitoring.alerts.presentation import FN_KIND

register = template.Library()


@register.filter
def plain(value) -> str:
    """Return a Decimal without trailing zeros or exponent: 0.400 -> 0.4, 10.000 -> 10, 0.000 -> 0."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value).normalize():f}"


@register.filter
def anc(value, digits: int = 2) -> str:
    """Return a count rounded to `digits` places, never across a grade boundary: 0.499 -> "0.499", not "0.50"."""
    if value is None or value == "":
        return ""
    return clinical.number_text(value, int(digits))


@register.filter
def percent(value) -> str:
    """Return a probability as a whole percentage with a no-break space: 0.712 -> "71\u00a0%"."""
    if value is None or value == "":
        return ""
    return wording.percent(value)


@register.filter
def number(value) -> str:
    """Return a float as short as it reads: 1.5 -> "1.5", 1.0 -> "1", 0.75 -> "0.75"."""
    if value is None or value == "":
        return ""
    return f"{float(value):g}"


@register.filter
def moment(value, now) -> str:
    """Return a moment as the alerts say it: "08:00 tomorrow", "Sun 13 Dec 08:00" (never a bare weekday
    a week or more away, which reads as the coming one)."""
    if value is None or value == "":
        return ""
    return words.when(value, now)


@register.filter(expects_localtime=True)
def day(value, day_format: str) -> str:
    """Return what `value|date:day_format` returns, for a format of the day only ("D d M", "D j M").

    The ward shows three such dates on each of its 300 rows, and `date` parses its format and
    looks up day and month names on every call; here each calendar day is formatted once.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.date()  # already in the clinic's time zone (expects_localtime)
    return _day(value, day_format, get_language())


@lru_cache(maxsize=1024)
def _day(value: date, day_format: str, language: str | None) -> str:
    return date_format(value, day_format)


@register.filter
def forecast_notes(warnings) -> list[str]:
    """Return a forecast's caveats as sentences for a nurse (monitoring/wording.py)."""
    return wording.forecast_notes(warnings)


@register.simple_tag
def readiness(forecast, febrile_neutropenia=False):
    """Return the next cycle's readiness in words, or None without a forecast of it.

    `febrile_neutropenia`: True, or the patient's open alerts (any of them febrile neutropenia).
    """
    if not forecast or getattr(forecast, "p_ready", None) is None:
        return None  # no forecast, or none of the next cycle (a template's missing value arrives as "")
    if not isinstance(febrile_neutropenia, bool):
        febrile_neutropenia = any(alert.kind == FN_KIND for alert in febrile_neutropenia or ())
    return wording.readiness(forecast.p_ready, febrile_neutropenia)


@register.filter
def people_units(text) -> str:
    """Return text with units written as people write them (monitoring/wording.py)."""
    return wording.people_units(str(text))


@register.filter
def next_fbc(day: date | None) -> str:
    """Return "next FBC: Thu 3 Dec", or "next FBC overdue (due Thu 3 Dec)" once that day has gone by."""
    if day is None:
        return ""
    return wording.next_fbc(date_format(day, "D j M"), day < timezone.localdate())

"""Template filters for clinical numbers: plain decimals, never scientific notation."""

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def plain(value) -> str:
    """Return a Decimal without trailing zeros or exponent: 0.400 -> 0.4, 10.000 -> 10, 0.000 -> 0."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value).normalize():f}"


@register.filter
def percent(value) -> str:
    """Return a probability as a whole percentage with a no-break space: 0.712 -> "71\u00a0%"."""
    if value is None or value == "":
        return ""
    return f"{float(value):.0%}".replace("%", "\u00a0%")


@register.filter
def number(value) -> str:
    """Return a float as short as it reads: 1.5 -> "1.5", 1.0 -> "1", 0.75 -> "0.75"."""
    if value is None or value == "":
        return ""
    return f"{float(value):g}"

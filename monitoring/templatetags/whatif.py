"""{% apply_query apply_links which row.key as query %}: the "Apply as plan" link's query for one what-if row."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag
def apply_query(apply_links: dict, which: str, key: str) -> str:
    """Return the query string applying scenario `key` to the "current" or "next" cycle, or "" if not open."""
    return apply_links.get(f"{which}:{key}", "")

"""What a nurse typed into a form that was refused, given back to the form (issue 22: never wiped).

The alert acknowledgement is posted from an alert card and answered with a redirect back to the
page; when it is refused (an antibiotic time in the future, a note too long), the view keeps the
draft in the session and the card's form takes it back from here, once.
"""

from __future__ import annotations

from django import template

register = template.Library()

ACK_DRAFTS = "ack_drafts"  # session key: {alert id: {"note", "antibiotics_given_at", "problem"}}


def keep_ack_draft(request, alert_id: int, draft: dict) -> None:
    """Keep what was typed into alert `alert_id`'s acknowledgement form for the next page."""
    drafts = request.session.get(ACK_DRAFTS, {})
    drafts[str(alert_id)] = draft
    request.session[ACK_DRAFTS] = drafts


@register.simple_tag(takes_context=True)
def ack_draft(context, alert) -> dict:
    """Return (and forget) what was typed into this alert's refused acknowledgement, or {}."""
    request = context.get("request")
    drafts = request.session.get(ACK_DRAFTS) if request is not None and hasattr(request, "session") else None
    if not drafts or str(alert.pk) not in drafts:
        return {}
    draft = drafts.pop(str(alert.pk))
    request.session.modified = True
    return draft

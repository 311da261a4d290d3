"""What a nurse typed into a form that was refused, given back to the form (issue 22: never wiped).

The alert acknowledgement is posted from an alert card and answered with a redirect back to the
page; when it is refused (an antibiotic time in the future, a note too long), the view keeps the
draft in the session and the page that shows the card gives it back to its form, once.
"""

from __future__ import annotations

ACK_DRAFTS = "ack_drafts"  # session key: {alert id: {"note", "antibiotics_given_at", "problem"}}


def keep_ack_draft(request, alert_id: int, draft: dict) -> None:
    """Keep what was typed into alert `alert_id`'s acknowledgement form for the next page."""
    drafts = request.session.get(ACK_DRAFTS, {})
    drafts[str(alert_id)] = draft
    request.session[ACK_DRAFTS] = drafts


def give_back_ack_drafts(request, alerts: list) -> None:
    """Set `alert.draft` (what was typed into its refused acknowledgement, or {}) and forget it."""
    drafts = request.session.get(ACK_DRAFTS) or {}
    for alert in alerts:
        alert.draft = drafts.pop(str(alert.pk), {})
    if ACK_DRAFTS in request.session:
        request.session[ACK_DRAFTS] = drafts

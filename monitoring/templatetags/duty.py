"""The ward's duty panel: who is on duty now for each of the user's teams, and open triage follow-ups."""

from __future__ import annotations

from django import template
from django.utils import timezone

from monitoring.duty import rota
from monitoring.triage import calls

register = template.Library()


@register.inclusion_tag("monitoring/duty/_ward_panel.html", takes_context=True)
def duty_panel(context) -> dict:
    user = context["request"].user
    now = timezone.now()
    # The follow-ups are counted here, not named: the names are on their own page, which records the read.
    due = calls.open_follow_ups(user, now)
    return {"teams": [(team, rota.on_duty_until_off(team, now)) for team in user.teams.all()],
            "now": now, "follow_ups": len(due), "soonest": due[0].follow_up_due if due else None,
            "overdue": sum(1 for call in due if call.follow_up_due < now)}


@register.inclusion_tag("monitoring/duty/_quality.html")
def duty_quality(team, days: int) -> dict:
    """The alert quality page's chain and triage figures for one team over the last `days` days."""
    from datetime import timedelta

    from monitoring.alerts import duty_quality as quality

    now = timezone.now()
    return {"q": quality.duty_quality(team, now - timedelta(days=days), now)}

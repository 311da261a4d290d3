"""System checks (`manage.py check`) on the clinic's configuration held in the database."""

from __future__ import annotations

from django.core import checks
from django.db import DatabaseError


@checks.register("monitoring")
def teams_have_an_escalation_contact(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn for every team without an escalation contact: its critical alerts reach no one beyond the team."""
    from monitoring.models import Team

    try:
        teams = list(Team.objects.filter(escalation_email=""))
    except DatabaseError:  # before `migrate` has created the tables
        return []
    return [
        checks.Warning(
            f"Team {team.name!r} has no escalation contact: its critical alerts are emailed to no one outside "
            "the team, and an unacknowledged one escalates to nobody.",
            hint="Set the team's escalation email in the admin site (Teams).",
            obj=team,
            id="monitoring.W001",
        )
        for team in teams
    ]

"""Create a bearer token for a lab integration; the token is printed once and stored only hashed."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from monitoring.models import ApiToken, Team


class Command(BaseCommand):
    help = "Create an API token scoped to one or more teams and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--team", action="append", required=True, help="Team name (repeatable).")
        parser.add_argument("--name", default="lab integration", help="What the token is for.")

    def handle(self, *args, team, name, **options):
        teams = list(Team.objects.filter(name__in=team))
        missing = set(team) - {t.name for t in teams}
        if missing:
            raise CommandError(f"no team named {', '.join(sorted(missing))}")
        token, raw = ApiToken.issue(name, teams)
        self.stderr.write(f"Token {token.prefix}… for {name} ({', '.join(t.name for t in teams)}). "
                          "It is shown once: store it now.")
        self.stdout.write(raw)

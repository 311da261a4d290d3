"""Print who is on duty for a team and the steps an alert raised then would follow.

    python manage.py on_duty "Oncology day unit" [--at 2026-12-07T22:00] [--severity critical] [--json]

`--at` is local clinic time unless it carries an offset; default now. `--json` prints one object:
{"on_duty": [usernames], "steps": [{"after_minutes": n, "notify": [usernames]}]}.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from monitoring.alerts import chains, words
from monitoring.duty import rota
from monitoring.models import Alert, Team

SEVERITIES = {label.lower(): value for value, label in Alert.Severity.choices}


class Command(BaseCommand):
    help = "Show who is on duty for a team at a moment, and the escalation steps of an alert raised then."

    def add_arguments(self, parser):
        parser.add_argument("team", help="The team's name, exactly.")
        parser.add_argument("--at", help="ISO date and time (local clinic time unless an offset is given).")
        parser.add_argument("--severity", default="critical", choices=sorted(SEVERITIES))
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, team: str, at: str | None, severity: str, json: bool, **options):
        found = Team.objects.filter(name=team).first()
        if found is None:
            raise CommandError(f"no team named {team!r}")
        moment = self._moment(at)
        duties = rota.on_duty_until_off(found, moment)
        steps = chains.plan(found, SEVERITIES[severity], moment)
        if json:
            self.stdout.write(_json({"on_duty": [d.user.username for d in duties],
                                     "steps": [{"after_minutes": s.after_minutes, "notify": s.notify} for s in steps]}))
            return
        self.stdout.write(f"{found} at {timezone.localtime(moment):%a %Y-%m-%d %H:%M %Z}:")
        for duty in duties or []:
            # As the ward's duty panel says it: "08:00 tomorrow", "Sun 13 Dec 08:00" (from the moment asked about).
            self.stdout.write(f"  {duty.user.username:<14} {duty.role_label} until {words.when(duty.until, moment)}")
        if not duties:
            self.stdout.write("  nobody on duty (the fallback contact is told)")
        self.stdout.write(f"A {severity} alert raised then:" if steps
                          else f"No escalation chain for a {severity} alert.")
        for step in steps:
            told = ", ".join(step.notify) or "-"
            self.stdout.write(f"  after {step.after_minutes:>3} min: {step.target:<10} -> {told}")

    @staticmethod
    def _moment(text: str | None) -> datetime:
        if not text:
            return timezone.now()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as error:
            raise CommandError(f"--at {text!r} is not an ISO date and time (e.g. 2026-12-07T22:00)") from error
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=rota.clinic_tz())


def _json(document: dict) -> str:
    return json.dumps(document)

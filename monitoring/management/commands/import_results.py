"""Import lab results from CSV, FHIR R4 JSON or HL7 v2 files, each file whole or not at all."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from monitoring import importers
from monitoring.models.results import Source


class Command(BaseCommand):
    help = "Import results files (CSV, FHIR R4 JSON, HL7 v2 ORU^R01); a file with any bad item imports nothing."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--format", choices=sorted(importers.FORMATS), help="Default: detected from the content.")
        parser.add_argument("--user", help="Username to record as the person who entered the results.")

    def handle(self, *args, paths, format=None, user=None, **options):
        entered_by = self._user(user)
        refused = 0
        for path in paths:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                self.stderr.write(f"{path}: file: cannot read: {exc.strerror}")
                refused += 1
                continue
            report = importers.import_file(path, data, source=Source.IMPORT, fmt=format, user=entered_by)
            for problem in report.problems:
                self.stderr.write(str(problem))
            for note in report.held_back:
                self.stdout.write(f"{path}: held back: {note}")
            if report.ok:
                self.stdout.write(report.summary())
            else:
                self.stderr.write(report.summary())
                refused += 1
        if refused:
            raise CommandError(f"{refused} of {len(paths)} file(s) refused")

    def _user(self, username: str | None):
        if not username:
            return None
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {username!r}") from None

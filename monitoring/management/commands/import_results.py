"""Import lab results from CSV, FHIR R4 JSON or HL7 v2 files, record by record.

Each row / message / entry is stored or kept for review in the exceptions queue; the command
says "N stored, M kept for review" per file and exits non-zero when anything was kept or refused.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from monitoring.labfeed import importers
from monitoring.models.results import Source


class Command(BaseCommand):
    help = ("Import results files (CSV, FHIR R4 JSON, HL7 v2 ORU^R01) record by record: bad records are kept "
            "for review at /import/exceptions/ and make the exit status non-zero.")

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--format", choices=sorted(importers.FORMATS), help="Default: detected from the content.")
        parser.add_argument("--user", help="Username to record as the person who entered the results.")
        parser.add_argument("--all-or-nothing", action="store_true",
                            help="Refuse a whole file when any record is bad (nothing is kept for review).")

    def handle(self, *args, paths, format=None, user=None, all_or_nothing=False, **options):
        entered_by = self._user(user)
        refused = kept = 0
        for path in paths:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                self.stderr.write(f"{path}: file: cannot read: {exc.strerror}")
                refused += 1
                continue
            report = importers.import_file(path, data, source=Source.IMPORT, fmt=format, user=entered_by,
                                           scope=importers.Scope(sender="import_results command"),
                                           all_or_nothing=all_or_nothing)
            for problem in report.problems:
                self.stderr.write(str(problem))
            for note in report.held_back:
                self.stdout.write(f"{path}: held back: {note}")
            if report.refused:
                self.stderr.write(report.summary())
                refused += 1
            else:
                (self.stderr if report.kept else self.stdout).write(report.summary())
                kept += len(report.kept)
        if refused or kept:
            raise CommandError(
                f"{refused} of {len(paths)} file(s) refused, {kept} record(s) kept for review at /import/exceptions/"
            )

    def _user(self, username: str | None):
        if not username:
            return None
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {username!r}") from None

"""Revoke an API token by its prefix (the first 8 characters shown when it was created)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from monitoring.models import ApiToken


class Command(BaseCommand):
    help = "Revoke API tokens by prefix; revoked tokens are refused with 401 at once."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, prefix, **options):
        revoked = ApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if not revoked:
            raise CommandError(f"no live token with prefix {prefix!r}")
        self.stdout.write(f"revoked {revoked} token(s)")

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A bearer token for one lab integration, stored hashed and scoped to teams."""

    name = models.CharField(max_length=100)
    teams = models.ManyToManyField("monitoring.Team", related_name="api_tokens")
    prefix = models.CharField(max_length=8, help_text="The first characters, to recognise a token.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, name: str, teams, created_by=None) -> tuple[ApiToken, str]:
        """Create a token and return it with its raw value, which is shown once and never stored."""
        raw = "nw_" + secrets.token_urlsafe(32)
        token = cls.objects.create(name=name, prefix=raw[:8], token_hash=cls.hash(raw), created_by=created_by)
        token.teams.set(teams)
        return token, raw


class AccessLog(models.Model):
    """One request that read (or tried to read) patient data: page, form, list, export, API. Append-only.

    A page about one patient names it in `patient`. A list (ward, search, inbox) names no single
    patient and keeps the ids of those it showed in `patients_shown`. A refused request (another
    team's record, or no such record) is `refused`, with the id it asked for in `requested_id`.
    The user and token are protected: an account with entries is deactivated, never deleted.
    """

    class Action(models.TextChoices):
        VIEW = "view", "Viewed record"
        FORM = "form", "Opened or sent a form"
        LIST = "list", "Saw in a list"
        EXPORT = "export", "Exported"
        API_READ = "api_read", "Read by API"
        IMPORT = "import", "Imported results"
        HISTORY = "history", "Viewed history"
        REFUSED = "refused", "Refused: not in the user's teams"

    patient = models.ForeignKey("monitoring.Patient", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="access_log")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT)
    token = models.ForeignKey(ApiToken, null=True, on_delete=models.PROTECT)
    action = models.CharField(max_length=10, choices=Action.choices)
    path = models.CharField(max_length=300)
    requested_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="The id a refused request named.")
    patients_shown = models.JSONField(default=list, blank=True, help_text="Patient ids a list page showed.")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.user} {self.action} {self.patient_id or self.requested_id} at {self.at:%Y-%m-%d %H:%M}"

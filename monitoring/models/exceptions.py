"""The exceptions queue: lab records that arrived but could not be stored, kept until a person acts.

Every record that reaches NeutroWatch (a CSV row, an HL7 v2 message, a FHIR entry or panel) is
either stored or kept here with the reason, never dropped. A person of the patient's team (or an
administrator) fixes it (it is then stored through the normal write path), re-tries it (an MRN
registered since), or dismisses it with a reason.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from monitoring.models.results import Source


class ImportException(models.Model):
    """One record kept for review: the raw text as received, where it came from, and why."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        FIXED = "fixed", "Fixed"
        DISMISSED = "dismissed", "Dismissed"

    class Kind(models.TextChoices):
        INVALID = "invalid", "Unreadable or implausible value"
        UNKNOWN_MRN = "unknown_mrn", "Unknown MRN"
        CONFLICT = "conflict", "Same accession, different value (correction candidate)"

    source = models.CharField(max_length=10, choices=Source.choices)
    format = models.CharField(max_length=10, help_text="csv, fhir or hl7: how `raw` is read.")
    file_name = models.CharField(max_length=200, blank=True, help_text="The file, request or connection it came in.")
    location = models.CharField(max_length=200, help_text="Where in it: row 5, message 3, entry 2 ...")
    raw = models.TextField(help_text="The record as received (a CSV row with its header, an HL7 message, ...).")
    raw_digest = models.CharField(max_length=64, editable=False)
    values = models.JSONField(default=dict, blank=True, help_text="The record's values, to open in the fix form.")
    problems = models.JSONField(default=list, help_text="[{field, reason}, ...] in words.")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.INVALID)
    mrn = models.CharField(max_length=64, blank=True)
    patient = models.ForeignKey("monitoring.Patient", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="import_exceptions")
    team = models.ForeignKey("monitoring.Team", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="import_exceptions",
                             help_text="Who may see it: the patient's team, or the sender's team for an unknown MRN.")
    sender = models.CharField(max_length=200, blank=True, help_text="Upload by a user, API token, MLLP peer ...")
    received_at = models.DateTimeField()
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["status", "team"]), models.Index(fields=["patient", "status"])]
        constraints = [
            # The same bad record re-sent (a lab retrying, two routes) is one open exception.
            models.UniqueConstraint(fields=["raw_digest"], condition=Q(status="open"), name="one_open_exception"),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.location} ({self.get_status_display()})"

    @staticmethod
    def digest(fmt: str, raw: str) -> str:
        return hashlib.sha256(f"{fmt}\n{raw}".encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def problems_text(self) -> str:
        return "; ".join(f"{p.get('field')}: {p.get('reason')}" for p in self.problems)

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

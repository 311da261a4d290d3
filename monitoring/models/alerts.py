from __future__ import annotations

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords


class Forecast(models.Model):
    """The latest nadir forecast of one cycle, and the inputs it was made from."""

    cycle = models.OneToOneField("monitoring.Cycle", on_delete=models.CASCADE, related_name="forecast")
    input_version = models.PositiveIntegerField(help_text="Cycle.input_version this forecast used.")
    inputs_digest = models.CharField(max_length=64, help_text="SHA-256 of the history the engine was given.")
    n_counts = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()
    as_of = models.DateTimeField()
    nadir_anc_1e9_per_l = models.FloatField(null=True)
    nadir_lo80 = models.FloatField(null=True)
    nadir_hi80 = models.FloatField(null=True)
    nadir_at = models.DateTimeField(null=True)
    nadir_day_of_cycle = models.FloatField(null=True)
    p_grade4 = models.FloatField(null=True)
    p_grade3plus = models.FloatField(null=True)
    next_day1 = models.DateTimeField(null=True)
    p_ready = models.FloatField(null=True, help_text="P(ANC >= threshold on the planned next day 1).")
    ready_threshold_1e9_per_l = models.FloatField(null=True)
    trajectory = models.JSONField(default=list, help_text="[{time, anc, lo80, hi80}] in 10^9/L.")
    warnings = models.JSONField(default=list)
    error = models.TextField(blank=True)
    # The first forecast made for the cycle (before its own counts), kept for predicted-vs-observed.
    first_nadir_anc_1e9_per_l = models.FloatField(null=True)
    next_fbc_on = models.DateField(
        null=True, blank=True, help_text="Day on which one more count would tell most about grade 4 (or the nadir)."
    )
    next_fbc_reason = models.CharField(max_length=10, blank=True, help_text="'grade4' or 'nadir'.")

    def __str__(self) -> str:
        return f"Forecast for {self.cycle} (v{self.input_version})"


class ForecastScore(models.Model):
    """One stored forecast scored against one count it predicted, when that count arrived.

    Written by ``forecasts.recompute_cycle`` just before a new forecast replaces the old one, for
    every count collected after the old forecast was made and inside its trajectory. The band is the
    one the nurse saw (the 80 % band of the latent count), so lab noise alone puts a few counts
    outside it. Holds no patient data beyond the links; the calibration page shows only aggregates.
    """

    cycle = models.ForeignKey("monitoring.Cycle", on_delete=models.CASCADE, related_name="forecast_scores")
    regimen = models.ForeignKey("monitoring.Regimen", on_delete=models.PROTECT, related_name="forecast_scores")
    count = models.ForeignKey("monitoring.CountResult", on_delete=models.CASCADE, related_name="forecast_scores")
    forecast_as_of = models.DateTimeField(help_text="When the scored forecast was made.")
    horizon_hours = models.FloatField(help_text="From the forecast to the count.")
    observed_anc_1e9_per_l = models.FloatField()
    predicted_anc_1e9_per_l = models.FloatField(help_text="Forecast median at the count's time.")
    lo80 = models.FloatField()
    hi80 = models.FloatField()
    inside80 = models.BooleanField()
    pit = models.FloatField(help_text="Probability integral transform: forecast P(ANC <= observed), 0-1.")
    log10_error = models.FloatField(help_text="log10(predicted / observed).")
    p_grade4 = models.FloatField(null=True, help_text="The forecast's P(grade 4 nadir) for the cycle.")
    scored_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cycle", "count", "forecast_as_of"], name="one_score_per_forecast_count")
        ]
        indexes = [models.Index(fields=["regimen", "scored_at"])]

    def __str__(self) -> str:
        return f"Score of the {self.forecast_as_of:%Y-%m-%d %H:%M} forecast for {self.cycle}"


class AlertQuerySet(models.QuerySet):
    """Alerts change by conditional updates (acknowledge once, escalate once, clear, resolve).

    A queryset update() writes no history row by itself; this one writes a "~" row for every
    alert it changed, so the acknowledgement note, the antibiotic time, escalation and resolution
    are all in the alert's history (issue 25). The rows are locked first, so the history shows
    exactly the rows the update changed, even when two workers race for the same alert.
    """

    def update(self, **kwargs) -> int:
        with transaction.atomic():
            ids = list(self.select_for_update(of=("self",)).values_list("pk", flat=True))
            if not ids:
                return 0
            changed = models.QuerySet(self.model, using=self.db).filter(pk__in=ids).update(**kwargs)
            self.model.history.bulk_history_create(list(self.model.objects.filter(pk__in=ids)), update=True,
                                                   default_user=_request_user())
        return changed


def _request_user():
    """Return the signed-in user of the request being served (simple-history's middleware keeps it), or None."""
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


class Alert(models.Model):
    class Kind(models.TextChoices):
        GRADE4_OBSERVED = "grade4_observed", "Grade 4 neutropenia observed"
        GRADE3_OBSERVED = "grade3_observed", "Grade 3 neutropenia observed"
        GRADE4_PREDICTED = "grade4_predicted", "Grade 4 neutropenia predicted"
        FEBRILE_NEUTROPENIA = "febrile_neutropenia", "Febrile neutropenia suspected"
        NOT_READY = "not_ready", "Not ready for next cycle"
        NADIR_UNMONITORED = "nadir_unmonitored", "Nadir window unmonitored"
        GCSF_NOT_GIVEN = "gcsf_not_given", "G-CSF prophylaxis indicated but not given"
        FEVER_UNKNOWN_ANC = "fever_unknown_anc", "Fever on chemotherapy, neutrophil status unknown"
        FEVER_RECHECK = "fever_recheck", "Raised temperature: re-check within 1 hour"
        GCSF_TIMING = "gcsf_timing", "G-CSF given inside the window its label excludes"
        HELD_RESULT = "held_result", "Grade 3-4 count held for review"
        TRIAGE_RED = "triage_red", "Red on a telephone triage call: assess face to face now"
        UNREADABLE_HELD = "unreadable_held", "Unreadable count held for review"
        PLATELETS_GRADE4 = "platelets_grade4", "Grade 4 thrombocytopenia observed (platelets < 25)"
        UNREGISTERED_RESULT = "unregistered_result", "Grade 3-4 count or fever for an unregistered MRN"
        HELD_TEMPERATURE = "held_temperature", "Raised or unreadable temperature held for review"

    class Severity(models.IntegerChoices):
        # Integers so "most severe first" is a plain ORDER BY.
        LOW = 1, "Low"
        MEDIUM = 2, "Medium"
        HIGH = 3, "High"
        CRITICAL = 4, "Critical"

    # Null only for a result of an MRN nobody has registered (Kind.UNREGISTERED_RESULT): it is kept in the
    # exceptions queue (`import_exception`) and told to the named list (alerts.recipients).
    patient = models.ForeignKey("monitoring.Patient", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="alerts")
    import_exception = models.ForeignKey("monitoring.ImportException", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="alerts")
    # Null for an observed-value alert of a patient with no active cycle: an alert belongs to a patient.
    cycle = models.ForeignKey("monitoring.Cycle", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="alerts")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    message = models.TextField()
    evidence = models.JSONField(default=dict)
    raised_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledgement_note = models.TextField(blank=True)
    # Febrile neutropenia: when empirical antibiotics were given, recorded on acknowledgement, so
    # time-to-antibiotic (target 60 minutes) can be measured on the alert quality page.
    antibiotics_given_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Set when the alert is closed: its condition cleared (and, if critical, it was acknowledged).",
    )
    cleared_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the condition cleared. A critical alert stays open (and escalates) until acknowledged.",
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    # What the condition looks like now, refreshed at each save and recompute; `message` and
    # `evidence` stay what raised the alert, so a page can show both side by side.
    latest_message = models.TextField(blank=True)
    latest_evidence = models.JSONField(default=dict, blank=True)
    latest_at = models.DateTimeField(null=True, blank=True)
    # The alert that replaced this one because its condition worsened (grade 4 to profound) or
    # became another, graver condition (fever status unknown to febrile neutropenia).
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="supersedes")
    # Acknowledgement note, antibiotic time, escalation and resolution are clinical record (issue 25):
    # every change is kept, including the conditional updates (AlertQuerySet.update writes them).
    history = HistoricalRecords()

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-severity", "-raised_at"]
        constraints = [
            # One alert per condition per cycle while it is live (acknowledged or not). NULLs are
            # distinct in a unique index (PostgreSQL and SQLite alike), so a patient's alerts without
            # a cycle get their own partial index on (patient, kind).
            models.UniqueConstraint(
                fields=["cycle", "kind"], condition=Q(resolved_at__isnull=True, cycle__isnull=False),
                name="one_live_alert_per_condition",
            ),
            models.UniqueConstraint(
                fields=["patient", "kind"], condition=Q(resolved_at__isnull=True, cycle__isnull=True),
                name="one_live_patient_alert_per_condition",
            ),
            # A result of an unregistered MRN is told once, however often the lab re-sends it.
            models.UniqueConstraint(fields=["import_exception", "kind"], condition=Q(import_exception__isnull=False),
                                    name="one_alert_per_held_record"),
        ]
        indexes = [models.Index(fields=["resolved_at", "acknowledged_at"])]

    def __str__(self) -> str:
        return f"{self.get_severity_display()}: {self.title} ({self.mrn})"

    @property
    def title(self) -> str:
        """Return the alert's kind in words, as every screen, e-mail and text message names it.

        The kind's label, except for a fever entered late (``alerts/rules/late_fever.py``), which is raised
        as "fever, neutrophil status unknown" for its urgency and lifecycle but may come with a known low
        count or a forecast fall: the title then says which, not "status unknown".
        """
        evidence = self.evidence or {}
        if self.kind == self.Kind.FEVER_UNKNOWN_ANC and evidence.get("late_fever"):
            if evidence.get("anc_1e9_per_l") is not None:
                return "Fever entered late, last count low: may be neutropenic"
            if evidence.get("predicted_lo80_1e9_per_l") is not None:
                return "Fever entered late, neutropenia forecast"
            return "Fever entered late, neutrophil status unknown"
        return self.get_kind_display()

    @property
    def cycle_words(self) -> str:
        """Return which cycle the alert is of: "cycle 3"; a held result (a patient's, of no cycle until
        it is stored) says so, not "no active cycle", which would tell of a patient off treatment."""
        if self.cycle_id is not None:
            return f"cycle {self.cycle.number}"
        if self.kind in (self.Kind.HELD_RESULT, self.Kind.UNREADABLE_HELD, self.Kind.HELD_TEMPERATURE):
            return "held for review, in no cycle until stored"
        return "no active cycle"

    @property
    def which_words(self) -> str:
        """Return "cycle 2, raised Sat 05 Dec 10:30" (clinic time): several grade 4 alerts of one
        patient otherwise read alike where they are listed ("Record given", the triage call)."""
        of_cycle = f"cycle {self.cycle.number}, " if self.cycle_id else ""
        return f"{of_cycle}raised {timezone.localtime(self.raised_at):%a %d %b %H:%M}"

    @property
    def mrn(self) -> str:
        """Return the patient's MRN, or the unregistered MRN the result came with."""
        return self.patient.mrn if self.patient_id else self.evidence.get("mrn", "")

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None and self.acknowledged_at is None

    @property
    def in_hand(self) -> bool:
        """Return True for an acknowledged alert whose condition still lasts (issue 21: not resolved)."""
        return self.resolved_at is None and self.acknowledged_at is not None and self.cleared_at is None

    @property
    def now_message(self) -> str:
        return self.latest_message or self.message

    @property
    def now_evidence(self) -> dict:
        return self.latest_evidence or self.evidence


class AlertEvent(models.Model):
    """One change in an alert's life, kept as its history: what happened, the values, who was told.

    Written in the same transaction as the change (the healthchecks `Flip`): raised, worsened
    (with the change in words), refreshed evidence, cleared, returned, acknowledged, antibiotics
    recorded, superseded, resolved.
    """

    class Kind(models.TextChoices):
        RAISED = "raised", "Raised"
        WORSENED = "worsened", "Worsened: raised again"
        UPDATED = "updated", "Evidence updated"
        CLEARED = "cleared", "Condition cleared"
        RETURNED = "returned", "Condition back"
        ESCALATED = "escalated", "Escalated"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ANTIBIOTICS = "antibiotics", "Antibiotic time recorded"
        SUPERSEDED = "superseded", "Superseded"
        RESOLVED = "resolved", "Resolved"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField()
    words = models.TextField(blank=True, help_text="The change in words, as the nurse reads it.")
    evidence = models.JSONField(default=dict, blank=True)
    told = models.JSONField(default=list, blank=True, help_text="[channel:recipient] notified of this change.")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                           related_name="+")

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["alert", "at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M} (alert {self.alert_id})"


class Delivery(models.Model):
    """One attempt-tracked delivery of an alert over one channel, written before sending."""

    class Channel(models.TextChoices):
        INAPP = "inapp", "In-app inbox"
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"
        SMS = "sms", "SMS"

    class Purpose(models.TextChoices):
        NOTIFY = "notify", "Notification"
        ESCALATE = "escalate", "Escalation"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        RETRYING = "retrying", "Failed, will retry"
        FAILED = "failed", "Failed permanently"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.NOTIFY)
    recipient = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # When a failed delivery's next attempt is due: a retry whose scheduled task was lost (Redis
    # restarted, broker down when it was scheduled) is published again by the minute catch-up job.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The escalation step that sent it (monitoring/duty/timers.py); null for the notification on raise.
    timer = models.ForeignKey("monitoring.EscalationTimer", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="deliveries")
    # The claim of the attempt in flight is a lease: renewed while the transport runs, it lapses
    # when its worker dies, and the catch-up job then sends the delivery again (alerts/delivery.py).
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"  # the admin would say "Deliverys"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "purpose", "recipient"], condition=Q(timer__isnull=True),
                name="one_delivery_per_recipient",
            ),
            # A chain may tell the same person at several steps: once per step.
            models.UniqueConstraint(fields=["timer", "channel", "recipient"], name="one_delivery_per_step_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient}: {self.get_status_display()}"

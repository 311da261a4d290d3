"""Who is on duty, how an alert escalates, and the telephone triage log (issue 24).

- Rota: `ShiftPattern` rows (a person, a role, a weekday, a start and an end in the clinic's
  local time; an end at or before the start runs into the next day) and `RotaOverride` rows
  (a person on duty between two moments, optionally in place of someone: a swap or cover).
  `monitoring.duty.rota.on_duty` answers "who is on duty for this team now" in one query.
- Chains: `EscalationChain` per team and severity with ordered `EscalationStep`s; an alert keeps
  a snapshot of the chain it started with (`AlertEscalation.steps`), and each pending step is an
  `EscalationTimer` row (the record; Celery countdowns only make it prompt).
- Triage: `TriageSymptom` rows are the unit's triage table (editable by administrators);
  `TriageCall` keeps every call with its `TriageGrade`s, outcome and follow-up.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DutyRole(models.TextChoices):
    NURSE = "nurse", "Nurse on duty"
    NEXT = "next", "Second on call"
    REGISTRAR = "registrar", "On-call registrar"


class TeamDuty(models.Model):
    """A team's duty settings: who may edit its rota, its fallback contact, its quiet hours."""

    team = models.OneToOneField("monitoring.Team", on_delete=models.CASCADE, related_name="duty")
    leads = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="led_rotas",
                                   help_text="Team leads: they edit the rota (administrators always may).")
    fallback_email = models.EmailField(blank=True, help_text="Told when nobody is on duty (else the escalation email).")
    fallback_phone = models.CharField(max_length=40, blank=True, help_text="Sent an SMS when nobody is on duty.")
    quiet_start = models.TimeField(null=True, blank=True,
                                   help_text="Local time from which low and medium alerts wait for the next shift.")
    quiet_end = models.TimeField(null=True, blank=True, help_text="Local time the quiet hours end.")

    def __str__(self) -> str:
        return f"Duty settings of {self.team}"


class DutyContact(models.Model):
    """The mobile or pager number a person on duty is sent SMS on."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="duty_contact")
    mobile = models.CharField(max_length=40, help_text="E.164, e.g. +447700900123.")

    def __str__(self) -> str:
        return f"{self.user}: {self.mobile}"


class ShiftPattern(models.Model):
    """One weekly shift: `user` holds `role` every `weekday` from `starts` to `ends` (local time)."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    team = models.ForeignKey("monitoring.Team", on_delete=models.CASCADE, related_name="shift_patterns")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shift_patterns")
    role = models.CharField(max_length=10, choices=DutyRole.choices, default=DutyRole.NURSE)
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, help_text="The day the shift starts.")
    starts = models.TimeField(help_text="Handover in (local time).")
    ends = models.TimeField(help_text="Handover out (local time); at or before the start: the next day.")

    class Meta:
        ordering = ["weekday", "starts", "role", "user_id"]
        indexes = [models.Index(fields=["team", "weekday"])]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M} {self.user} ({self.role})"

    @property
    def overnight(self) -> bool:
        return self.ends <= self.starts


class RotaOverride(models.Model):
    """A one-off duty: `user` holds `role` from `starts_at` to `ends_at`, in place of `replaces` if set."""

    team = models.ForeignKey("monitoring.Team", on_delete=models.CASCADE, related_name="rota_overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rota_overrides")
    role = models.CharField(max_length=10, choices=DutyRole.choices, default=DutyRole.NURSE)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    replaces = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+", help_text="The person off duty meanwhile (leave, swap).")
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["team", "starts_at", "ends_at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.starts_at:%Y-%m-%d %H:%M}-{self.ends_at:%Y-%m-%d %H:%M}"


class StepTarget(models.TextChoices):
    ON_DUTY = "on_duty", "The nurses on duty"
    NEXT = "next", "The next person on the rota (second on call)"
    REGISTRAR = "registrar", "The on-call registrar"
    TEAM = "team", "The whole team"


class EscalationChain(models.Model):
    """How an alert of `severity` or above (up to the next chain) escalates for one team."""

    team = models.ForeignKey("monitoring.Team", on_delete=models.CASCADE, related_name="escalation_chains")
    severity = models.PositiveSmallIntegerField(choices=[(1, "Low"), (2, "Medium"), (3, "High"), (4, "Critical")],
                                                help_text="Used for alerts of this severity and above.")
    repeat_times = models.PositiveSmallIntegerField(default=0, help_text="Run the steps again this many times.")
    repeat_after_minutes = models.PositiveIntegerField(default=30,
                                                       help_text="Wait after the last step before repeating.")

    class Meta:
        ordering = ["team", "severity"]
        constraints = [models.UniqueConstraint(fields=["team", "severity"], name="one_chain_per_team_severity")]

    def __str__(self) -> str:
        return f"{self.team}: {self.get_severity_display()} and above"


class EscalationStep(models.Model):
    """Wait `wait_minutes` after the previous step (or the raise), then notify `target`."""

    chain = models.ForeignKey(EscalationChain, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    wait_minutes = models.PositiveIntegerField(default=0)
    target = models.CharField(max_length=10, choices=StepTarget.choices, default=StepTarget.ON_DUTY)

    class Meta:
        ordering = ["chain", "position"]
        constraints = [models.UniqueConstraint(fields=["chain", "position"], name="one_step_per_position")]

    def __str__(self) -> str:
        return f"after {self.wait_minutes} min: {self.get_target_display()}"


class AlertEscalation(models.Model):
    """The chain an alert started with (a snapshot: later edits do not change it) and its state."""

    alert = models.OneToOneField("monitoring.Alert", on_delete=models.CASCADE, related_name="escalation")
    chain = models.ForeignKey(EscalationChain, null=True, on_delete=models.SET_NULL, related_name="+")
    steps = models.JSONField(help_text="[{after_minutes, target}], repeats expanded.")
    round = models.PositiveSmallIntegerField(default=0, help_text="Restarts so far (the alert worsened).")
    started_at = models.DateTimeField()
    held_until = models.DateTimeField(null=True, blank=True, help_text="Quiet hours: the steps wait until then.")
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=100, blank=True)
    reached_nobody = models.BooleanField(default=False, help_text="A step found nobody on duty (fallback used).")

    def __str__(self) -> str:
        return f"Escalation of alert {self.alert_id} (round {self.round})"


class EscalationTimer(models.Model):
    """One pending step of one alert's chain: fired once by the auditor (or its countdown)."""

    alert = models.ForeignKey("monitoring.Alert", on_delete=models.CASCADE, related_name="escalation_timers")
    round = models.PositiveSmallIntegerField(default=0)
    step = models.PositiveSmallIntegerField(help_text="Index into AlertEscalation.steps.")
    attempt = models.PositiveSmallIntegerField(default=0, help_text="0 the first pass, 1.. the repeats.")
    target = models.CharField(max_length=10, choices=StepTarget.choices)
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    recipients = models.JSONField(default=list, help_text="Usernames (or the fallback contact) notified.")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["due_at", "step"]
        constraints = [models.UniqueConstraint(fields=["alert", "round", "step", "attempt"],
                                               name="one_timer_per_alert_step")]
        indexes = [models.Index(fields=["due_at"], condition=models.Q(fired_at__isnull=True,
                                                                      cancelled_at__isnull=True),
                                name="pending_escalation_timers")]

    def __str__(self) -> str:
        return f"Alert {self.alert_id} step {self.step} due {self.due_at:%Y-%m-%d %H:%M}"


class TriageGrade(models.TextChoices):
    GREEN = "green", "Green"
    AMBER = "amber", "Amber"
    RED = "red", "Red"


class TriageSymptom(models.Model):
    """One row of the unit's triage table: a symptom and what makes it green, amber or red."""

    name = models.CharField(max_length=60, unique=True)
    position = models.PositiveSmallIntegerField(default=0)
    green = models.CharField(max_length=300)
    amber = models.CharField(max_length=300)
    red = models.CharField(max_length=300)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class TriageCall(models.Model):
    """One telephone triage call: who took it, the grades, the outcome, the advice, the follow-up."""

    class Outcome(models.TextChoices):
        ASSESS_NOW = "assess_now", "Assess face to face now"
        CALL_BACK = "call_back", "Call back within 24 hours"
        ADVICE = "advice", "Advice only"

    patient = models.ForeignKey("monitoring.Patient", on_delete=models.CASCADE, related_name="triage_calls")
    called_at = models.DateTimeField()
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    caller = models.CharField(max_length=100, blank=True, help_text="Who phoned (patient, relative, carer).")
    temperature_c = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    advice = models.TextField(blank=True)
    context = models.JSONField(default=dict, help_text="What the nurse saw beside the call: ANC, cycle day, alerts.")
    follow_up_due = models.DateTimeField(null=True, blank=True)
    follow_up_done_at = models.DateTimeField(null=True, blank=True)
    alert = models.ForeignKey("monitoring.Alert", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-called_at"]
        indexes = [models.Index(fields=["follow_up_due"], condition=models.Q(follow_up_done_at__isnull=True),
                                name="open_triage_follow_ups")]

    def __str__(self) -> str:
        return f"Triage call {self.called_at:%Y-%m-%d %H:%M} ({self.get_outcome_display()})"


class TriageCallGrade(models.Model):
    """One symptom's grade on one call (the symptom's name kept, should the table change)."""

    call = models.ForeignKey(TriageCall, on_delete=models.CASCADE, related_name="grades")
    symptom = models.ForeignKey(TriageSymptom, null=True, on_delete=models.SET_NULL, related_name="+")
    symptom_name = models.CharField(max_length=60)
    grade = models.CharField(max_length=5, choices=TriageGrade.choices)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.symptom_name}: {self.grade}"

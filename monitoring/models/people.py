from __future__ import annotations

from datetime import date

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from monitoring import clinical

# The group that holds the admin site's model permissions; administrators are put in it (migration 0007).
ADMINISTRATORS_GROUP = "Administrators"


class Team(models.Model):
    """A ward or clinic; patients and staff belong to teams."""

    name = models.CharField(max_length=100, unique=True)
    escalation_email = models.EmailField(
        blank=True, help_text="Where unacknowledged critical alerts escalate (e.g. the nurse in charge)."
    )
    on_call_phone = models.CharField(
        "on-call phone", max_length=40, blank=True,
        help_text="The team's on-call or acute oncology number, shown on every alert and patient page.",
    )
    webhook_url = models.URLField(blank=True, help_text="Optional: alerts are POSTed here as signed JSON.")
    webhook_secret = models.CharField(max_length=128, blank=True, help_text="HMAC-SHA256 key for the webhook.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    class Role(models.TextChoices):
        NURSE = "nurse", "Nurse"
        ONCOLOGIST = "oncologist", "Oncologist"
        ADMIN = "admin", "Administrator"

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.NURSE)
    teams = models.ManyToManyField(Team, blank=True, related_name="members")

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @classmethod
    def administrators(cls) -> models.QuerySet:
        """Return the active administrators (the administrator role, or a superuser): one definition."""
        return cls.objects.filter(is_active=True).filter(models.Q(role=cls.Role.ADMIN) | models.Q(is_superuser=True))

    @property
    def is_administrator(self) -> bool:
        """Return True for the administrator role or a superuser (as ``administrators`` selects them)."""
        return self.role == self.Role.ADMIN or self.is_superuser

    def save(self, *args, **kwargs) -> None:
        # Administrators manage teams, users and tokens in the admin site; nobody else enters it.
        self.is_staff = self.is_administrator
        super().save(*args, **kwargs)
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "role" in update_fields:
            self._sync_administrators_group()

    def _sync_administrators_group(self) -> None:
        """Put administrators in the group that holds the admin site's model permissions (migration 0007)."""
        from django.contrib.auth.models import Group

        group = Group.objects.filter(name=ADMINISTRATORS_GROUP).first()
        if group is None:
            return
        if self.role == self.Role.ADMIN:
            self.groups.add(group)
        else:
            self.groups.remove(group)

    def has_audit_rows(self) -> bool:
        """Return True if the audit trail names this user: changes, reads, acknowledgements, tokens."""
        from simple_history.models import registered_models
        from simple_history.utils import get_history_manager_for_model

        from monitoring.models.alerts import Alert
        from monitoring.models.records import AccessLog, ApiToken

        if (AccessLog.objects.filter(user=self).exists() or Alert.objects.filter(acknowledged_by=self).exists()
                or ApiToken.objects.filter(created_by=self).exists()):
            return True
        return any(get_history_manager_for_model(model).filter(history_user_id=self.pk).exists()
                   for model in registered_models.values())

    @property
    def can_change_treatment(self) -> bool:
        """Return True if this user may change regimens and cycles (oncologists, admins)."""
        return self.role == self.Role.ONCOLOGIST or self.is_administrator


class PatientQuerySet(models.QuerySet):
    def visible_to(self, user) -> PatientQuerySet:
        """Return the patients of the user's teams: the one place team scoping is decided."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(team__in=user.teams.all())


def validate_mrn(value: str) -> None:
    """Refuse an MRN with a line break, tab or other control character, or surrounding spaces.

    An MRN ends up in headers (download names), CSV files and email subjects: a CR/LF there
    breaks them (issue 16: a cycle-summary download answered 500).
    """
    if not value.isprintable() or value != value.strip():
        raise ValidationError("The MRN may contain only printable characters: no line breaks, tabs or "
                              "leading or trailing spaces.", code="invalid_mrn")


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        OTHER = "O", "Other"
        UNKNOWN = "U", "Unknown"

    mrn = models.CharField("MRN", max_length=40, unique=True, validators=[validate_mrn],
                           help_text="Medical record number.")
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = models.CharField(max_length=40, blank=True, help_text="The number to call the patient on at home.")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="patients")
    responsible_nurse = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="patients"
    )
    active = models.BooleanField(default=True)
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    baseline_anc_1e9_per_l = models.DecimalField(
        "baseline ANC (x10^9/L)", max_digits=7, decimal_places=3, null=True, blank=True,
        help_text="Pre-treatment ANC, if known. Low baselines (e.g. Duffy-null) are not an added risk.",
    )
    # G-CSF risk factors (ASCO 2015 / NCCN / EORTC 2010); age >= 65 is derived from date of birth.
    prior_febrile_neutropenia = models.BooleanField(default=False)
    advanced_disease = models.BooleanField(default=False)
    poor_performance_status = models.BooleanField("poor performance status (ECOG >= 2)", default=False)
    poor_nutrition = models.BooleanField(default=False)
    open_wounds_or_recent_surgery = models.BooleanField(default=False)
    no_antibiotic_prophylaxis = models.BooleanField(default=False)

    objects = PatientQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["family_name", "given_name"]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    def get_absolute_url(self) -> str:
        return reverse("patient", args=[self.pk])

    @property
    def initials(self) -> str:
        return f"{self.given_name[:1]}{self.family_name[:1]}".upper()

    def age_on(self, day: date) -> int:
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def gcsf_risk_factors(self, today: date) -> list[str]:
        """Return the patient-level risk factors that raise FN risk, in plain words."""
        factors = []
        if self.age_on(today) >= clinical.OLDER_PATIENT_AGE:
            factors.append(f"age {clinical.OLDER_PATIENT_AGE} or over")
        for field in (
            "prior_febrile_neutropenia", "advanced_disease", "poor_performance_status",
            "poor_nutrition", "open_wounds_or_recent_surgery", "no_antibiotic_prophylaxis",
        ):
            if getattr(self, field):
                factors.append(self._meta.get_field(field).verbose_name)
        return factors


class RegistrationRequest(models.Model):
    """A new patient as a nurse typed her, waiting for an administrator to register her (issue 25 item 5).

    The new-patient form answers an MRN registered in another team exactly as an unused one (status,
    body, the queries it runs): both become a request, kept whole, that an administrator resolves.
    MRNs are unique hospital-wide, so a request never makes a second patient with the same MRN.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for an administrator"
        REGISTERED = "registered", "Patient registered"
        REFUSED = "refused", "Refused"

    mrn = models.CharField("MRN", max_length=40, validators=[validate_mrn])
    values = models.JSONField(default=dict, help_text="The form as typed (field name to text).")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="registration_requests")
    requested_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                help_text="The patient registered from this request.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            # A form sent twice (or twenty times at once) is one request.
            models.UniqueConstraint(fields=["mrn", "requested_by"], condition=models.Q(status="open"),
                                    name="one_open_registration_per_mrn_and_user"),
        ]

    def __str__(self) -> str:
        return f"Registration of MRN {self.mrn} ({self.get_status_display()})"

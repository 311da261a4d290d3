from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from monitoring import clinical


class Source(models.TextChoices):
    MANUAL = "manual", "Manual entry"
    IMPORT = "import", "File import"
    API = "api", "Results API"
    DEMO = "demo", "Demo data"
    MLLP = "mllp", "HL7 v2 feed (MLLP)"


class Qualifier(models.TextChoices):
    """A censored lab value: the lab reports only that it is below or above its measuring range."""

    EXACT = "", "exact"
    BELOW = clinical.QUALIFIER_BELOW, "below the measuring range"
    ABOVE = clinical.QUALIFIER_ABOVE, "above the measuring range"


class CountResult(models.Model):
    """One blood count. ANC is stored in 10^9/L; what was entered is kept beside it."""

    patient = models.ForeignKey("monitoring.Patient", on_delete=models.CASCADE, related_name="counts")
    collected_at = models.DateTimeField()
    anc_1e9_per_l = models.DecimalField("ANC (x10^9/L)", max_digits=7, decimal_places=3)
    qualifier = models.CharField(
        max_length=1, choices=Qualifier.choices, blank=True, default=Qualifier.EXACT,
        help_text="'<' or '>' for a censored value: the ANC stored is the bound, and it is graded from it.",
    )
    anc_computed = models.BooleanField(
        default=False, help_text="ANC was computed as WBC x (neutrophil % + band %) / 100."
    )
    wbc_1e9_per_l = models.DecimalField("WBC (x10^9/L)", max_digits=7, decimal_places=3, null=True, blank=True)
    neutrophil_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # Issue 21 item 7: platelets of the same specimen (LOINC 777-3, 26515-7), in 10^9/L like the ANC.
    platelets_1e9_per_l = models.DecimalField("platelets (x10^9/L)", max_digits=7, decimal_places=3,
                                              null=True, blank=True)
    band_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    entered_value = models.CharField(max_length=40, help_text="The ANC (or WBC) as entered or received.")
    entered_unit = models.CharField(max_length=20, help_text="The unit as entered or received.")
    lln_1e9_per_l = models.DecimalField(
        "lower limit of normal (x10^9/L)", max_digits=5, decimal_places=2, default=clinical.DEFAULT_ANC_LLN
    )
    ctcae_grade = models.PositiveSmallIntegerField("CTCAE v5.0 grade", editable=False)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    accession = models.CharField("lab accession number", max_length=64, blank=True)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    entered_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["collected_at"]
        indexes = [
            models.Index(fields=["patient", "collected_at"]),
            # Every import looks its accessions up across all patients (the same accession stored for
            # another patient is refused): without this index each lookup scans the whole table.
            models.Index(fields=["accession"], name="countresult_accession"),
        ]
        constraints = [
            # A lab accession is one result whatever route it came by (file, API, MLLP, typed in).
            models.UniqueConstraint(
                fields=["patient", "accession"], condition=~Q(accession=""), name="unique_accession_per_patient"
            ),
            # Without an accession, the idempotency key is the result itself: the same value at the
            # same time for the same patient, sent twice (or by ten senders at once), is stored once.
            models.UniqueConstraint(
                fields=["patient", "collected_at", "anc_1e9_per_l", "qualifier"], condition=Q(accession=""),
                name="unique_unkeyed_count",
            ),
            models.CheckConstraint(condition=Q(anc_1e9_per_l__gte=0), name="anc_not_negative"),
        ]

    def __str__(self) -> str:
        # As the patient page reads it (the record history names a count by this): "<0.1", clinic time.
        return f"ANC {self.anc_display} x10^9/L at {timezone.localtime(self.collected_at):%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        self.ctcae_grade = clinical.ctcae_grade(self.anc_1e9_per_l, self.lln_1e9_per_l)
        super().save(*args, **kwargs)

    @property
    def grade_label(self) -> str:
        return clinical.GRADE_LABELS[self.ctcae_grade]

    @property
    def anc_display(self) -> str:
        """Return the ANC as the lab reported it in 10^9/L: '0.450', or '<0.1' for a censored value."""
        return f"{self.qualifier}{self.anc_1e9_per_l.normalize() if self.qualifier else self.anc_1e9_per_l}"


class GcsfDose(models.Model):
    """One G-CSF administration, matched to its ingredient so biosimilars count alike."""

    class Route(models.TextChoices):
        SC = "SC", "Subcutaneous"
        IV = "IV", "Intravenous"
        OBI = "OBI", "On-body injector"

    patient = models.ForeignKey("monitoring.Patient", on_delete=models.CASCADE, related_name="gcsf_doses")
    product = models.CharField(max_length=20, choices=clinical.GCSF_PRODUCT_CHOICES)
    product_name = models.CharField(max_length=80, blank=True, help_text="As entered, e.g. filgrastim-sndz.")
    dose = models.DecimalField(max_digits=7, decimal_places=2)
    dose_unit = models.CharField(max_length=10, choices=[("ug", "micrograms"), ("mg", "mg")])
    route = models.CharField(max_length=3, choices=Route.choices, default=Route.SC)
    given_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    external_id = models.CharField(max_length=64, blank=True)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    entered_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["given_at"]
        indexes = [models.Index(fields=["patient", "given_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "external_id"], condition=~Q(external_id=""), name="unique_gcsf_external_id"
            ),
            # Without an external id the dose itself is the key, as for counts: the same product at the
            # same time for the same patient, sent twice (or by several senders at once), is stored once.
            models.UniqueConstraint(
                fields=["patient", "given_at", "product"], condition=Q(external_id=""), name="unique_unkeyed_gcsf"
            ),
        ]

    def __str__(self) -> str:
        return (f"{self.get_product_display()} {self.dose} {self.dose_unit} at "
                f"{timezone.localtime(self.given_at):%Y-%m-%d %H:%M}")

    @property
    def long_acting(self) -> bool:
        return clinical.is_long_acting(self.product)


class TemperatureReading(models.Model):
    class Site(models.TextChoices):
        ORAL = "oral", "Oral"
        TYMPANIC = "tympanic", "Tympanic"
        AXILLARY = "axillary", "Axillary"
        TEMPORAL = "temporal", "Temporal artery"
        OTHER = "other", "Other"

    patient = models.ForeignKey("monitoring.Patient", on_delete=models.CASCADE, related_name="temperatures")
    taken_at = models.DateTimeField()
    temperature_c = models.DecimalField("temperature (°C)", max_digits=4, decimal_places=2)
    entered_value = models.CharField(max_length=20)
    entered_unit = models.CharField(max_length=3, choices=clinical.TEMPERATURE_UNIT_CHOICES, default="C")
    site = models.CharField(max_length=10, choices=Site.choices, default=Site.ORAL)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    external_id = models.CharField(max_length=64, blank=True)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    entered_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["taken_at"]
        indexes = [models.Index(fields=["patient", "taken_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "external_id"], condition=~Q(external_id=""),
                name="unique_temperature_external_id",
            ),
            # Without an external id: one reading per patient, time and value (as for counts).
            models.UniqueConstraint(
                fields=["patient", "taken_at", "temperature_c"], condition=Q(external_id=""),
                name="unique_unkeyed_temperature",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.temperature_c} °C at {timezone.localtime(self.taken_at):%Y-%m-%d %H:%M}"

    @property
    def is_fever(self) -> bool:
        return self.temperature_c >= clinical.FEVER_SUSTAINED_C

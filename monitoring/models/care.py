from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from monitoring import clinical
from monitoring.cycle_calendar import day_of_cycle


class Regimen(models.Model):
    """A chemotherapy protocol from the catalogue shipped in a data migration."""

    class FnRisk(models.TextChoices):
        # NCCN / EORTC categories of febrile-neutropenia risk per regimen.
        HIGH = "high", "High (> 20 %)"
        INTERMEDIATE = "intermediate", "Intermediate (10-20 %)"
        LOW = "low", "Low (< 10 %)"

    class GcsfRecommendation(models.TextChoices):
        PRIMARY = "primary", "Primary prophylaxis recommended"
        CONSIDER = "consider", "Consider if patient risk factors"
        NOT_ROUTINE = "not_routine", "Not routinely recommended"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    drugs = models.CharField(max_length=200)
    cycle_length_days = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    chemo_days = models.JSONField(default=list, help_text="Days of the cycle with chemotherapy, e.g. [1, 8].")
    fn_risk = models.CharField("FN risk", max_length=20, choices=FnRisk.choices)
    gcsf_recommendation = models.CharField("G-CSF", max_length=20, choices=GcsfRecommendation.choices)
    next_cycle_anc_1e9_per_l = models.DecimalField(
        "ANC to start next cycle (x10^9/L)", max_digits=4, decimal_places=2,
        default=clinical.DEFAULT_NEXT_CYCLE_ANC,
    )
    next_cycle_platelets_1e9_per_l = models.DecimalField(
        "platelets to start next cycle (x10^9/L)", max_digits=5, decimal_places=1,
        default=clinical.DEFAULT_NEXT_CYCLE_PLATELETS,
    )
    nadir_window_start_day = models.PositiveSmallIntegerField(default=7)
    nadir_window_end_day = models.PositiveSmallIntegerField(default=14)
    infusion_hours = models.PositiveSmallIntegerField(
        "continuous infusion (hours)", default=0,
        help_text="Hours from the recorded chemotherapy time to the end of the last continuous infusion, "
                  "e.g. 46 for a 5-FU pump; 0 if none. G-CSF timing counts \"after chemotherapy\" from that end.",
    )
    source = models.TextField(blank=True, help_text="Where the FN risk and schedule come from.")
    # The label's dose-reduction step for the whole regimen, where the label defines one (issue 23):
    # the what-if table's reduced-dose row uses it instead of 80 %.
    label_dose_step = models.DecimalField(
        "label dose step (fraction of full dose)", max_digits=3, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0.05")), MaxValueValidator(Decimal("0.99"))],
        help_text="E.g. 0.80 for docetaxel 75 -> 60 mg/m2; empty where the label gives no step for the regimen.",
    )
    label_dose_step_dose = models.CharField("label step dose", max_length=60, blank=True,
                                            help_text="The reduced dose in words, e.g. \"60 mg/m²\".")
    label_dose_step_source = models.TextField("label step source", blank=True)
    # The ANC threshold and infusion hours are editable in the admin and change every patient's
    # readiness and G-CSF timing: who changed what, and when, is kept (issue 25).
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TreatmentCourse(models.Model):
    """A patient on one regimen, made of cycles."""

    patient = models.ForeignKey("monitoring.Patient", on_delete=models.CASCADE, related_name="courses")
    regimen = models.ForeignKey(Regimen, on_delete=models.PROTECT, related_name="courses")
    started_on = models.DateField()
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-started_on"]

    def __str__(self) -> str:
        return f"{self.regimen} from {self.started_on:%d %b %Y}"

    @property
    def gcsf_decision_or_none(self):
        """Return the course's G-CSF decision (not indicated / declined), or None."""
        return gcsf_decision_of(self)


class GcsfDecision(models.Model):
    """G-CSF prophylaxis considered for a course and not given: not indicated, or declined (issue 21 item 8).

    Recorded once per course, with a reason, in the history; it stops "G-CSF indicated but not
    given" from asking again every cycle of that course.
    """

    class Decision(models.TextChoices):
        NOT_INDICATED = "not_indicated", "Considered, not indicated"
        DECLINED = "declined", "Declined by the patient"

    course = models.OneToOneField(TreatmentCourse, on_delete=models.CASCADE, related_name="gcsf_decision")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    reason = models.TextField()
    recorded_by = models.ForeignKey("monitoring.User", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    recorded_at = models.DateTimeField()
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.get_decision_display()} for {self.course}"


def gcsf_decision_of(course: TreatmentCourse) -> GcsfDecision | None:
    """Return the course's recorded G-CSF decision, or None (no query if it was select_related)."""
    try:
        return course.gcsf_decision
    except GcsfDecision.DoesNotExist:
        return None


class Cycle(models.Model):
    class PlannedGcsf(models.TextChoices):
        NONE = "", "None planned"
        PEG_DAY2 = "peg", "Pegfilgrastim day 2 (or on-body injector on day 1)"
        FILGRASTIM = "filgrastim", "Filgrastim days 3-10"

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        GIVEN = "given", "Given"
        DELAYED = "delayed", "Delayed"
        CANCELLED = "cancelled", "Cancelled"

    course = models.ForeignKey(TreatmentCourse, on_delete=models.CASCADE, related_name="cycles")
    number = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    planned_day1 = models.DateTimeField("planned day 1")
    # The day 1 first planned, kept when the cycle is delayed (planned_day1 then moves).
    original_planned_day1 = models.DateTimeField("originally planned day 1", null=True, blank=True)
    actual_day1 = models.DateTimeField("actual day 1", null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLANNED)
    delay_reason = models.CharField(max_length=200, blank=True)
    given_override_reason = models.TextField(
        blank=True, help_text="Why day 1 was recorded as given despite the concerns the form listed (audited)."
    )
    given_override_concerns = models.TextField(blank=True, help_text="The concerns that reason overrode.")
    # Bumped (F() + 1) by every write that changes this cycle's forecast inputs; a Forecast
    # stores the version it used, so a stale forecast is one with a smaller version.
    input_version = models.PositiveIntegerField(default=0)
    # When input_version was last bumped: a forecast still older than its inputs a minute after
    # this is stale for real (health check, catch-up job; monitoring/stale_forecasts.py).
    inputs_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The plan for a cycle not given yet (an oncologist's what-if "apply", issue 23): the forecast
    # reads both until the cycle's own chemotherapy and G-CSF doses are recorded.
    planned_dose_fraction = models.DecimalField(
        "planned dose (fraction of full dose)", max_digits=3, decimal_places=2, default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.05")), MaxValueValidator(Decimal("1.50"))],
    )
    planned_gcsf = models.CharField("planned G-CSF", max_length=20, blank=True, default="",
                                    choices=PlannedGcsf.choices)
    history = HistoricalRecords(excluded_fields=["input_version", "inputs_changed_at"])

    class Meta:
        ordering = ["course", "number"]
        constraints = [models.UniqueConstraint(fields=["course", "number"], name="unique_cycle_number")]

    def __str__(self) -> str:
        return f"Cycle {self.number} of {self.course.regimen.name}"

    def save(self, *args, **kwargs) -> None:
        if self.original_planned_day1 is None:
            self.original_planned_day1 = self.planned_day1
        super().save(*args, **kwargs)

    @property
    def day1(self) -> datetime:
        """Return when the cycle started (or is planned to start)."""
        return self.actual_day1 or self.planned_day1

    @property
    def planned_next_day1(self) -> datetime:
        return self.day1 + timedelta(days=self.course.regimen.cycle_length_days)

    def cycle_day(self, moment: datetime) -> int:
        """Return the day of the cycle at `moment` (see `day_of_cycle`)."""
        return day_of_cycle(moment, self.day1, timezone.get_current_timezone())


class ChemoAdministration(models.Model):
    """One chemotherapy administration within a cycle (day 1, day 8 ...)."""

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="administrations")
    day_of_cycle = models.PositiveSmallIntegerField(default=1)
    given_at = models.DateTimeField()
    dose_fraction = models.DecimalField(
        max_digits=3, decimal_places=2, default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.05")), MaxValueValidator(Decimal("1.50"))],
        help_text="Given dose relative to the full protocol dose (0.80 after a 20 % reduction).",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["given_at"]

    def __str__(self) -> str:
        return f"Day {self.day_of_cycle} at {self.dose_fraction:.0%}"


def current_cycle_of(cycles: list[Cycle], now: datetime) -> Cycle | None:
    """Return the cycle under way at `now`, else the next one waiting to be given, from a patient's cycles.

    The one definition of "current cycle": the write paths use it to know which forecast a
    new result changes, the alert rules where a fever belongs, the ward and patient pages what
    to show. The first cycle not yet given after the last given one becomes current once it is
    due, and stays current while it is overdue or delayed, until it is given or cancelled: a
    later planned cycle never jumps ahead of it. Cancelled cycles must already be left out;
    each cycle's course and regimen should be loaded.
    """
    given = [c for c in cycles if c.actual_day1 is not None and c.actual_day1 <= now]
    last_given = max(given, key=lambda c: c.day1) if given else None
    waiting = sorted(
        (c for c in cycles if c.actual_day1 is None and c.status != Cycle.Status.CANCELLED and c.course.active
         and (last_given is None or c.day1 > last_given.day1)),
        key=lambda c: c.day1,
    )
    next_up = waiting[0] if waiting else None
    if next_up is None:
        return last_given
    if last_given is None or next_up.day1 <= now or now >= last_given.planned_next_day1:
        return next_up
    return last_given


def grading_cycle_of(cycles: list[Cycle], moment: datetime) -> Cycle | None:
    """Return the cycle a count taken at `moment` is graded in, or None (before any cycle).

    A count in the 72 h before a day 1 is that cycle's pre-dose count (clinical.PRE_DOSE_COUNT_WINDOW),
    so it belongs to the coming cycle whether or not chemotherapy has been given yet.
    """
    window = clinical.PRE_DOSE_COUNT_WINDOW
    candidates = [c for c in cycles if c.status != Cycle.Status.CANCELLED and c.day1 - window <= moment]
    return max(candidates, key=lambda c: c.day1) if candidates else None


CYCLE_RELATED = ("course__regimen", "course__patient__team", "course__gcsf_decision")


def patient_cycles(patient_ids: list[int], *, lock: bool = False) -> dict[int, list[Cycle]]:
    """Return each patient's cycles, of every course, cancelled ones left out (one query).

    Each list is in the model's order (latest course first, then by number), whatever the order
    the rows were read (and locked) in. `lock`: the save path reads the cycles once, under the
    lock the observed rules need, before it locks anything else; rows are locked in primary-key
    order, so two saves never wait for each other crosswise.
    """
    rows = Cycle.objects.select_for_update(of=("self",)) if lock else Cycle.objects.all()
    rows = (rows.select_related(*CYCLE_RELATED).filter(course__patient_id__in=patient_ids)
            .exclude(status=Cycle.Status.CANCELLED).order_by("pk"))
    by_patient: dict[int, list[Cycle]] = {}
    for cycle in sorted(rows, key=lambda c: (-c.course.started_on.toordinal(), -c.course_id, c.number)):
        by_patient.setdefault(cycle.course.patient_id, []).append(cycle)
    return by_patient


class LearnedPrior(models.Model):
    """A regimen's forecast prior learned from the counts of this clinic's patients on it.

    Written by ``forecasts.learn_regimen_priors`` (a nightly beat job and the ``learn_priors``
    command); the forecast engine uses it in place of the literature prior, and each forecast
    made with it says so in its warnings. History is kept so a forecast's prior can be traced.
    """

    regimen = models.OneToOneField(Regimen, on_delete=models.CASCADE, related_name="learned_prior")
    parameters = models.JSONField(help_text="The learned prior (forecasting.population_to_dict).")
    patients = models.PositiveIntegerField(help_text="Patients whose histories it was learned from.")
    informative = models.PositiveIntegerField(help_text="Of those, patients with a count after a dose.")
    learned_at = models.DateTimeField()
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Learned prior for {self.regimen} ({self.patients} patients)"

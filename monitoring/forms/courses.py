"""The treatment forms: a course started, a cycle given or delayed, a course's G-CSF decision."""
from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils import timezone

from monitoring import treatment
from monitoring.forms.fields import DateTimeLocalField, check_moment
from monitoring.guards.text import RefuseControlCharacters
from monitoring.models import Cycle, GcsfDecision, Patient, Regimen, TreatmentCourse

# How far from today a planned day 1 may be: further is a typo (and year 9999 overflowed a date, a 500).
MAX_PLANNING_HORIZON = timezone.timedelta(days=2 * 365)


def check_within_horizon(form: forms.Form, field: str) -> None:
    moment = form.cleaned_data.get(field)
    if moment is not None and abs(moment - timezone.now()) > MAX_PLANNING_HORIZON:
        form.add_error(field, f"This date is more than {MAX_PLANNING_HORIZON.days // 365} years from today.")


class CourseForm(RefuseControlCharacters, forms.Form):
    """Start a regimen. Starting one ends the patient's active course: said, and ticked, first."""

    regimen = forms.ModelChoiceField(queryset=Regimen.objects.all())
    first_day1 = DateTimeLocalField(label="Cycle 1 day 1", help_text="Planned (or actual) first dose.")
    n_cycles = forms.IntegerField(label="Number of cycles", min_value=1, max_value=52, initial=6)

    def __init__(self, *args, patient: Patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.active = (TreatmentCourse.objects.filter(patient=patient, active=True).select_related("regimen")
                       .prefetch_related("cycles").first())
        if self.active is not None:
            cycles = list(self.active.cycles.all())
            given = sum(1 for c in cycles if c.actual_day1 is not None)
            self.fields["end_active"] = forms.BooleanField(
                required=False, label=f"End {self.active.regimen} (started {self.active.started_on:%d %b %Y}, "
                                      f"{given} of {len(cycles)} cycles given) and start this regimen instead")

    def clean(self):
        data = super().clean()
        check_within_horizon(self, "first_day1")
        if self.active is not None and not data.get("end_active") and not self._same_as_active(data):
            self.add_error("end_active", f"{self.active.regimen} is this patient's active course: tick to end it, "
                                         "or go back if it should go on.")
        return data

    def _same_as_active(self, data) -> bool:
        """A second click of the same start (the active course is this regimen from this day 1): not a switch."""
        return (data.get("regimen") == self.active.regimen and data.get("first_day1") is not None
                and any(c.number == 1 and c.original_planned_day1 == data["first_day1"]
                        for c in self.active.cycles.all()))


class GiveCycleForm(RefuseControlCharacters, forms.Form):
    """Record a cycle as given; while give_cycle_concerns lists anything, an override reason is needed."""

    given_at = DateTimeLocalField(label="Day-1 dose given at")
    dose_fraction = forms.DecimalField(
        label="Dose fraction", min_value=Decimal("0.05"), max_value=Decimal("1.5"), initial=Decimal("1.00"),
        max_digits=3, decimal_places=2, help_text="1.00 full dose; 0.80 after a 20 % reduction.",
    )
    override_reason = forms.CharField(
        label="Override reason", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Needed only if the concerns above apply: why the cycle is given anyway (kept in the record's "
                  "history).",
    )

    def __init__(self, *args, cycle: Cycle, **kwargs):
        self.cycle = cycle
        super().__init__(*args, **kwargs)
        self.concerns = treatment.give_cycle_concerns(cycle, timezone.now()) if not self.is_bound else []

    def clean(self):
        data = super().clean()
        check_moment(self, "given_at", self.cycle.course.patient)
        if self.errors:
            return data
        self.concerns = treatment.give_cycle_concerns(self.cycle, data["given_at"])
        if self.concerns and not data.get("override_reason", "").strip():
            self.add_error("override_reason", "Give a reason to record this cycle as given despite: "
                           + " ".join(self.concerns))
        return data


class DelayCycleForm(RefuseControlCharacters, forms.Form):
    new_day1 = DateTimeLocalField(label="New day 1")
    reason = forms.CharField(max_length=200, help_text="e.g. ANC 0.9 x10^9/L on planned day 1.")

    def __init__(self, *args, cycle: Cycle, **kwargs):
        self.cycle = cycle
        super().__init__(*args, **kwargs)

    def clean_new_day1(self):
        new_day1 = self.cleaned_data["new_day1"]
        if new_day1 <= self.cycle.planned_day1:
            raise forms.ValidationError("A delay moves day 1 later than planned.")
        if new_day1 - timezone.now() > MAX_PLANNING_HORIZON:
            raise forms.ValidationError(f"This date is more than {MAX_PLANNING_HORIZON.days // 365} years from today.")
        return new_day1


class GcsfDecisionForm(forms.Form):
    """G-CSF prophylaxis considered and not given for this course: not indicated, or declined (issue 21 item 8)."""

    decision = forms.ChoiceField(choices=GcsfDecision.Decision.choices)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000,
                             help_text="Why, and who decided: e.g. 'FN risk 12 %, no risk factors (Dr Shah)'.")

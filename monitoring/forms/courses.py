"""The treatment forms: a course started, a cycle given or delayed, a course's G-CSF decision."""
from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils import timezone

from monitoring import treatment
from monitoring.forms.fields import DateTimeLocalField, check_moment
from monitoring.guards.text import RefuseControlCharacters
from monitoring.models import Cycle, GcsfDecision, Regimen

# How far from today a planned day 1 may be: further is a typo (and year 9999 overflowed a date, a 500).
MAX_PLANNING_HORIZON = timezone.timedelta(days=2 * 365)


def check_within_horizon(form: forms.Form, field: str) -> None:
    moment = form.cleaned_data.get(field)
    if moment is not None and abs(moment - timezone.now()) > MAX_PLANNING_HORIZON:
        form.add_error(field, f"This date is more than {MAX_PLANNING_HORIZON.days // 365} years from today.")


class CourseForm(RefuseControlCharacters, forms.Form):
    regimen = forms.ModelChoiceField(queryset=Regimen.objects.all())
    first_day1 = DateTimeLocalField(label="Cycle 1 day 1", help_text="Planned (or actual) first dose.")
    n_cycles = forms.IntegerField(label="Number of cycles", min_value=1, max_value=52, initial=6)

    def clean(self):
        data = super().clean()
        check_within_horizon(self, "first_day1")
        return data


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

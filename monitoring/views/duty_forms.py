"""Forms of the rota page and the triage call (validation lives here: every 400 comes from a form)."""

from __future__ import annotations

from django import forms

from monitoring.forms import DateTimeLocalField, PlainDecimalField
from monitoring.models import RotaOverride, ShiftPattern, Team, User
from monitoring.models.duty import DutyRole, TriageGrade


def _members(team: Team):
    return User.objects.filter(teams=team, is_active=True).order_by("username")


class PatternForm(forms.Form):
    """A weekly shift on one or more weekdays (one pattern row per weekday)."""

    user = forms.ModelChoiceField(queryset=User.objects.none(), label="Who")
    role = forms.ChoiceField(choices=DutyRole.choices)
    weekdays = forms.TypedMultipleChoiceField(choices=ShiftPattern.Weekday.choices, coerce=int,
                                              widget=forms.CheckboxSelectMultiple, label="Days the shift starts")
    starts = forms.TimeField(label="Handover in", widget=forms.TimeInput(attrs={"type": "time"}))
    ends = forms.TimeField(label="Handover out", widget=forms.TimeInput(attrs={"type": "time"}),
                           help_text="At or before the start: the shift ends the next day.")

    def __init__(self, *args, team: Team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["user"].queryset = _members(team)

    def rows(self) -> list[ShiftPattern]:
        data = self.cleaned_data
        return [ShiftPattern(team=self.team, user=data["user"], role=data["role"], weekday=day,
                             starts=data["starts"], ends=data["ends"]) for day in data["weekdays"]]


class OverrideForm(forms.ModelForm):
    """A one-off duty (cover, a swap, leave covered by someone else)."""

    starts_at = DateTimeLocalField(label="From")
    ends_at = DateTimeLocalField(label="Until")

    class Meta:
        model = RotaOverride
        fields = ["user", "role", "starts_at", "ends_at", "replaces", "reason"]
        labels = {"user": "Who is on duty", "replaces": "In place of"}

    def __init__(self, *args, team: Team, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.team = team
        self.fields["user"].queryset = _members(team)
        self.fields["replaces"].queryset = _members(team)

    def clean(self):
        data = super().clean()
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", "The end must be after the start.")
        if data.get("user") and data.get("user") == data.get("replaces"):
            self.add_error("replaces", "Someone cannot replace themselves.")
        return data


class TriageCallForm(forms.Form):
    """One radio row per symptom of the unit's table, the temperature on the call, the advice given."""

    caller = forms.CharField(max_length=100, required=False, help_text="Patient, relative, carer ...")
    temperature = PlainDecimalField(label="Temperature on the call (°C)", max_digits=4, decimal_places=1,
                                    required=False, min_value=30, max_value=45)
    advice = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000,
                             label="Advice given")

    def __init__(self, *args, symptoms, **kwargs):
        super().__init__(*args, **kwargs)
        self.symptoms = list(symptoms)
        for symptom in self.symptoms:
            # Each radio's label is only its grade's words: the row header names the symptom.
            self.fields[f"symptom_{symptom.pk}"] = forms.ChoiceField(
                choices=TriageGrade.choices, initial=TriageGrade.GREEN, label=symptom.name, required=False,
                widget=forms.RadioSelect(attrs={"aria-describedby": f"symptom-{symptom.pk}"}))  # not asked: green

    def symptom_rows(self):
        """Return (symptom, bound field) pairs for the table."""
        return [(s, self[f"symptom_{s.pk}"]) for s in self.symptoms]

    def grades(self) -> dict[int, str]:
        return {s.pk: self.cleaned_data[f"symptom_{s.pk}"] or TriageGrade.GREEN for s in self.symptoms}

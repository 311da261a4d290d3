"""The patient form: who the patient is, her team and nurse, and her febrile-neutropenia risk factors."""
from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils import timezone

from monitoring import clinical
from monitoring.guards.text import RefuseControlCharacters
from monitoring.models import Patient, User


class PatientForm(RefuseControlCharacters, forms.ModelForm):
    class Meta:
        model = Patient
        fields = [
            "mrn", "given_name", "family_name", "date_of_birth", "sex", "phone", "team", "responsible_nurse", "active",
            "weight_kg", "baseline_anc_1e9_per_l", "prior_febrile_neutropenia", "advanced_disease",
            "poor_performance_status", "poor_nutrition", "open_wounds_or_recent_surgery", "no_antibiotic_prophylaxis",
        ]
        # <input type=date> takes only yyyy-mm-dd: without the format the browser drops the value
        # ("30/06/1971" in en-GB) and saving an unchanged form fails with "This field is required".
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}
        labels = {"weight_kg": "Weight (kg)"}

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = user.teams.all()
        self.fields["responsible_nurse"].queryset = User.objects.filter(teams__in=user.teams.all()).distinct()
        if self.instance.pk is not None:
            # A registered patient's MRN is changed by an administrator (admin site), as it was given:
            # an edit that refused another team's MRN while taking an unused one told which MRNs exist
            # elsewhere (issue 25 item 5). Shown, not sent: whatever a post says, the MRN stays.
            mrn = self.fields["mrn"]
            mrn.disabled = True
            mrn.help_text = "The lab feed finds the patient by it: only an administrator changes it."

    def validate_unique(self):
        """Refuse a new patient's MRN already in the user's teams, saying nothing of other teams (issues 16, 25).

        A new patient is a registration request (records.request_registration): only a clash in the
        user's own teams, which she can see anyway, is refused here; the same query runs either way.
        An edit cannot change the MRN (disabled above), so it looks up no other patient's.
        """
        if self.instance.pk is not None:
            return super().validate_unique()
        mrn = self.cleaned_data.get("mrn")
        if mrn and Patient.objects.filter(mrn=mrn, team__in=self.fields["team"].queryset).exists():
            self.add_error("mrn", f"A patient with MRN {mrn} is already in your teams.")

    def typed_values(self) -> dict[str, str]:
        """Return the cleaned form as text by field name (a registration request keeps it whole)."""
        values = {}
        for name in self._meta.fields:
            value = self.cleaned_data.get(name)
            values[name] = "" if value is None else str(getattr(value, "pk", value))
        return values

    def clean_date_of_birth(self):
        born = self.cleaned_data["date_of_birth"]
        if born > timezone.localdate():
            raise forms.ValidationError("The date of birth is in the future.")
        return born

    def clean_weight_kg(self):
        weight = self.cleaned_data.get("weight_kg")
        if weight is not None and not Decimal("1") <= weight <= Decimal("400"):
            raise forms.ValidationError("Weight must be between 1 and 400 kg.")
        return weight

    def clean_baseline_anc_1e9_per_l(self):
        anc = self.cleaned_data.get("baseline_anc_1e9_per_l")
        if anc is not None and not Decimal(0) <= anc <= clinical.MAX_PLAUSIBLE_ANC:
            raise forms.ValidationError(f"Baseline ANC must be between 0 and {clinical.MAX_PLAUSIBLE_ANC} x10^9/L.")
        return anc

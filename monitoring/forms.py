"""Data-entry forms. Every bad value gets a message on its field and nothing is saved."""
from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.core.validators import DecimalValidator
from django.utils import timezone

from monitoring import clinical, forecasts, treatment
from monitoring.guards.text import RefuseControlCharacters
from monitoring.models import CountResult, Cycle, GcsfDecision, GcsfDose, Patient, Regimen, TemperatureReading, User

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


class DateTimeLocalField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", DATETIME_FORMATS)
        super().__init__(**kwargs)


# What a bad number is told, after the value typed: the same reader as the importers (issue 16).
NUMBER_HINT = "enter digits 0-9 with an optional decimal point, e.g. 0.45"
CENSORED_HINT = f"{NUMBER_HINT}, or < or > before a result beyond the lab's range, e.g. <0.1 or >50"


def _echoed(value: object, hint: str) -> str:
    """Return "'abc' is not a number: <hint>." with the value as typed (cut short)."""
    return f"{str(value).strip()[:40]!r} is not a number: {hint}."


class PlainDecimalField(forms.DecimalField):
    """A DecimalField read by the one numeric reader importers use: ASCII digits, no `_`, no exponent.

    A text input, not a number input: a browser's number input drops what it cannot read ("abc",
    "<0.1", "0,5") before the form sees it, so the nurse could not be told what was wrong.
    """

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return clinical.to_decimal(value, self.label or "value")
        except clinical.ClinicalValueError as exc:
            reason = str(exc).split(": ", 1)[-1]
            if "is not a number" in reason and str(value).strip()[:1] in "<>≤≥":
                reason = (f"{str(value).strip()[:40]!r}: only the ANC can be entered as beyond the lab's range "
                          f"(< or >); enter the {self.label or 'value'} as a number.")
            elif "is not a number" in reason:
                reason = _echoed(value, NUMBER_HINT)
            raise forms.ValidationError(reason, code="invalid") from None


class CensoredCountField(forms.CharField):
    """A count as the lab reports it: "0.45", or censored "<0.1" / ">50"; cleans to (qualifier, bound)."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        try:
            qualifier, bound = clinical.to_censored_decimal(text, self.label or "value")
        except clinical.ClinicalValueError as exc:
            reason = str(exc).split(": ", 1)[-1]
            raise forms.ValidationError(_echoed(text, CENSORED_HINT) if "is not a number" in reason else reason,
                                        code="invalid") from None
        if bound < 0:
            raise forms.ValidationError(f"{text!r} is below zero: a count cannot be negative.", code="min_value")
        DecimalValidator(10, 3)(bound)  # the stored precision, as the number fields have
        return qualifier, bound


def check_moment(form: forms.Form, field: str, patient: Patient | None) -> None:
    """Refuse a time in the future or before the patient's birth."""
    moment = form.cleaned_data.get(field)
    if moment is None:
        return
    if moment > timezone.now() + forecasts.FUTURE_TOLERANCE:
        form.add_error(field, "This time is in the future.")
    elif patient is not None and timezone.localtime(moment).date() < patient.date_of_birth:
        form.add_error(field, "This time is before the patient's date of birth.")


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

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = user.teams.all()
        self.fields["responsible_nurse"].queryset = User.objects.filter(teams__in=user.teams.all()).distinct()

    def validate_unique(self):
        """Refuse an MRN already in use without saying whether another team has it (issue 16, issue 25).

        A new patient is a registration request (records.request_registration): only a clash in the
        user's own teams, which she can see anyway, is refused here; the same query runs either way.
        """
        mrn = self.cleaned_data.get("mrn")
        if self.instance.pk is None:
            if mrn and Patient.objects.filter(mrn=mrn, team__in=self.fields["team"].queryset).exists():
                self.add_error("mrn", f"A patient with MRN {mrn} is already in your teams.")
            return
        clash = Patient.objects.filter(mrn=mrn).exclude(pk=self.instance.pk).first() if mrn else None
        if clash is None:
            super().validate_unique()
        elif clash.team_id in {team.pk for team in self.fields["team"].queryset}:
            self.add_error("mrn", f"A patient with MRN {mrn} is already in your teams.")
        else:
            self.add_error("mrn", f"MRN {mrn} cannot be used: not found in your teams. Ask an administrator.")

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


class CountForm(RefuseControlCharacters, forms.Form):
    """A blood count: the ANC, or the WBC with the differential."""

    collected_at = DateTimeLocalField(label="Collected at")
    unit = forms.ChoiceField(choices=clinical.COUNT_UNIT_CHOICES, initial=clinical.UNIT_1E9_PER_L)
    anc = CensoredCountField(label="ANC", required=False, max_length=24,
                             help_text="Absolute neutrophil count, in the unit above, as the lab reports it: "
                                       "0.45, or <0.1 / >50 for a result beyond its range.")
    wbc = PlainDecimalField(label="WBC", required=False, min_value=0, max_digits=10, decimal_places=3,
                             help_text="White cell count, in the unit above.")
    neutrophil_pct = PlainDecimalField(label="Neutrophils (segmented) %", required=False, min_value=0,
                                        max_value=100, max_digits=5, decimal_places=2)
    band_pct = PlainDecimalField(label="Bands %", required=False, min_value=0, max_value=100, max_digits=5,
                                  decimal_places=2)
    platelets = PlainDecimalField(label="Platelets", required=False, min_value=0, max_digits=10, decimal_places=3,
                                  help_text="Platelet count of the same sample, in the unit above (optional).")
    accession = forms.CharField(label="Lab accession number", required=False, max_length=64)
    confirm = forms.BooleanField(
        label="Confirm this value as entered", required=False,
        help_text="Needed only when the count is held for confirmation (a likely unit or decimal mistake).",
    )

    def __init__(self, *args, patient: Patient, instance: CountResult | None = None, **kwargs):
        self.patient = patient
        self.instance = instance
        super().__init__(*args, **kwargs)
        self.count: clinical.CountInput | None = None

    def clean(self):
        data = super().clean()
        check_moment(self, "collected_at", self.patient)
        if self.errors:
            return data
        qualifier, anc = data.get("anc") or ("", None)
        wbc = data.get("wbc")
        neutrophils, bands = data.get("neutrophil_pct"), data.get("band_pct")
        unit = data["unit"]
        if anc is None and (wbc is None or neutrophils is None):
            raise forms.ValidationError("Enter the ANC, or the WBC with the neutrophil %.")
        if neutrophils is not None and bands is not None and neutrophils + bands > 100:
            self.add_error("band_pct", f"Neutrophil % + band % is {neutrophils + bands}, more than 100.")
            return data
        for field, value, what in (("anc", anc, "ANC"), ("wbc", wbc, "WBC"), ("platelets", data.get("platelets"),
                                                                             "platelets")):
            if value is None:
                continue
            try:
                clinical.count_to_1e9_per_l(value, unit, what=what)
            except clinical.ClinicalValueError as exc:
                self.add_error(field, str(exc))
        if self.errors:
            return data
        try:
            self.count = clinical.parse_count(
                collected_at=data["collected_at"], unit=unit, anc=anc, wbc=wbc,
                neutrophil_pct=neutrophils, band_pct=bands, accession=data.get("accession", ""), qualifier=qualifier,
                platelets=data.get("platelets"),
            )
        except clinical.ClinicalValueError as exc:
            self.add_error("anc", str(exc))
            return data
        self._check_accession(self.count.accession)
        self._check_identical()
        self._check_delta(data.get("confirm", False))
        return data

    def _check_delta(self, confirmed: bool) -> None:
        """Hold a count that looks like a unit or decimal mistake until the person confirms it."""
        earlier = CountResult.objects.filter(
            patient=self.patient, collected_at__lte=self.count.collected_at,
            collected_at__gte=self.count.collected_at - clinical.DELTA_WITHIN,
        )
        if self.instance is not None:
            earlier = earlier.exclude(pk=self.instance.pk)
        previous = earlier.order_by("-collected_at", "-pk").values_list("anc_1e9_per_l", flat=True).first()
        reason = clinical.count_needs_confirmation(self.count.anc_1e9_per_l, previous)
        if reason and not confirmed:
            self.add_error("confirm", f"Needs confirmation: {reason}. Tick the box to store it as entered.")

    def _check_identical(self) -> None:
        """Refuse a correction that would make this count a copy of another (one row per result)."""
        if self.instance is None or self.count.accession:
            return
        twin = CountResult.objects.filter(
            patient=self.patient, accession="", collected_at=self.count.collected_at,
            anc_1e9_per_l=self.count.anc_1e9_per_l, qualifier=self.count.qualifier,
        ).exclude(pk=self.instance.pk)
        if twin.exists():
            self.add_error("collected_at", "The same count (same time and value) is already recorded for this "
                                           "patient: correct that one, or change the time or value.")

    def _check_accession(self, accession: str) -> None:
        """Refuse an accession already recorded in this patient's team, as the importers do.

        An accession names one specimen: one result per patient whatever its source (the database
        enforces it), and never a second patient's of the team (a mislabelled tube). Other teams'
        results are not looked at: refusing an accession found there, while accepting an unused
        one, would tell anyone which accessions exist elsewhere (issue 25). One query either way.
        """
        if not accession:
            return
        clash = CountResult.objects.filter(accession=accession, patient__team=self.patient.team_id)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        holders = set(clash.values_list("patient_id", flat=True)[:2])
        if self.patient.pk in holders:
            self.add_error("accession", f"A result with accession number {accession} is already recorded "
                                        "for this patient.")
        elif holders:
            self.add_error("accession", f"Accession number {accession} is already recorded for another patient "
                                        "of this team.")


class GcsfForm(RefuseControlCharacters, forms.ModelForm):
    product_name = forms.CharField(
        label="Product", max_length=80,
        help_text="Ingredient, biosimilar, brand or ATC code: filgrastim, filgrastim-sndz, Neulasta, L03AA13 ...",
    )
    given_at = DateTimeLocalField(
        label="Given at", help_text="For an on-body injector, when it was applied: its timing is judged on the "
                                    "delivery, about 27 h later (Neulasta Onpro label).")
    dose = PlainDecimalField(max_digits=7, decimal_places=2)

    class Meta:
        model = GcsfDose
        fields = ["product_name", "dose", "dose_unit", "route", "given_at"]

    def __init__(self, *args, patient: Patient, **kwargs):
        self.patient = patient
        super().__init__(*args, **kwargs)
        unit = self.fields["dose_unit"]
        unit.required = False  # left as it is, the unit follows the product (clinical.GCSF_USUAL_UNIT)
        unit.choices = [("", "as usual for the product")] + list(GcsfDose._meta.get_field("dose_unit").choices)
        unit.help_text = "Filgrastim in micrograms, pegfilgrastim in mg, unless you choose otherwise."
        self.fields["product_name"].widget.attrs["data-usual-units"] = json.dumps(clinical.gcsf_usual_units())

    def clean_product_name(self):
        name = self.cleaned_data["product_name"]
        try:
            self.product = clinical.gcsf_product(name)
        except clinical.ClinicalValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return name

    def clean_dose(self):
        dose = self.cleaned_data["dose"]
        if dose <= 0:
            raise forms.ValidationError("The dose must be more than zero.")
        return dose

    def clean(self):
        data = super().clean()
        check_moment(self, "given_at", self.patient)
        product = getattr(self, "product", None)
        if product and not data.get("dose_unit"):
            data["dose_unit"] = clinical.GCSF_USUAL_UNIT[product]
        elif not data.get("dose_unit"):
            self.add_error("dose_unit", "Choose the unit, or name a product it can follow.")
        dose, unit = data.get("dose"), data.get("dose_unit")
        # The same limits as imports (clinical.check_gcsf_dose): filgrastim in ug, pegfilgrastim in mg.
        if product and dose is not None and unit:
            try:
                clinical.check_gcsf_dose(dose, unit)
            except clinical.ClinicalValueError as exc:
                self.add_error("dose", f"{exc}.")
        return data

    def fields_for_service(self) -> dict:
        data = self.cleaned_data
        return dict(product=self.product, product_name=data["product_name"], dose=data["dose"],
                    dose_unit=data["dose_unit"], route=data["route"], given_at=data["given_at"])


class TemperatureForm(RefuseControlCharacters, forms.Form):
    taken_at = DateTimeLocalField(label="Taken at")
    value = PlainDecimalField(label="Temperature", max_digits=5, decimal_places=2)
    unit = forms.ChoiceField(choices=clinical.TEMPERATURE_UNIT_CHOICES, initial="C")
    site = forms.ChoiceField(choices=TemperatureReading.Site.choices, initial=TemperatureReading.Site.ORAL)

    def __init__(self, *args, patient: Patient, **kwargs):
        self.patient = patient
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        check_moment(self, "taken_at", self.patient)
        if data.get("value") is not None and data.get("unit"):
            try:
                data["temperature_c"] = clinical.to_celsius(data["value"], data["unit"])
            except clinical.ClinicalValueError as exc:
                self.add_error("value", str(exc))
        return data

    def fields_for_service(self) -> dict:
        data = self.cleaned_data
        return dict(taken_at=data["taken_at"], temperature_c=data["temperature_c"],
                    entered_value=str(data["value"]), entered_unit=data["unit"], site=data["site"])


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

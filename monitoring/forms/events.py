"""The forms of what happens between counts: a G-CSF dose given and a temperature taken."""
from __future__ import annotations

import json

from django import forms

from monitoring import clinical
from monitoring.forms.fields import DateTimeLocalField, PlainDecimalField, check_moment
from monitoring.guards.text import RefuseControlCharacters
from monitoring.models import GcsfDose, Patient, TemperatureReading


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


def _other_unit_hint(value, unit: str) -> str:
    """Return " Did you mean 101.3 °F? That is 38.50 °C." where the value is a body temperature in the other unit."""
    other = "F" if unit == "C" else "C"
    try:
        celsius = clinical.to_celsius(value, other)
    except clinical.ClinicalValueError:
        return ""
    return f" Did you mean {value} °{other}? That is {celsius} °C."


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
                self.add_error("value", f"{exc}.{_other_unit_hint(data['value'], data['unit'])}")
        return data

    def fields_for_service(self) -> dict:
        data = self.cleaned_data
        return dict(taken_at=data["taken_at"], temperature_c=data["temperature_c"],
                    entered_value=str(data["value"]), entered_unit=data["unit"], site=data["site"])

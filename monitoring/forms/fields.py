"""The fields and the check every entry form shares: a local date and time, a number read as the importers read
it, a count as the lab reports it (censored or not), and a time neither in the future nor before birth."""
from __future__ import annotations

from django import forms
from django.core.validators import DecimalValidator
from django.utils import timezone

from monitoring import clinical, forecasts
from monitoring.models import Patient

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

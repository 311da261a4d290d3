"""The blood count form: the ANC or the WBC with the differential, checked as an import is checked."""
from __future__ import annotations

from django import forms

from monitoring import clinical
from monitoring.forms.fields import CensoredCountField, DateTimeLocalField, PlainDecimalField, check_moment
from monitoring.guards.text import RefuseControlCharacters
from monitoring.models import CountResult, Patient


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

"""Counts: store, correct and remove blood counts (one transaction each, observed rules at save time)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring import clinical
from monitoring.clinical import CountInput
from monitoring.models import CountResult, GcsfDose, Patient, TemperatureReading
from monitoring.models.results import Source
from monitoring.records.changes import results_changed


def record_counts(
    patient: Patient, counts: list[CountInput], *, source: str = Source.MANUAL, user=None
) -> list[CountResult]:
    """Store counts for one patient; a count already stored (same accession, or same time and value) is skipped.

    Returns the counts created. One recompute per affected cycle, however many rows.
    """
    now = timezone.now()
    created = []
    with transaction.atomic():
        existing, unkeyed = set(), set()
        stored = CountResult.objects.filter(patient=patient).order_by()
        for accession, *value in stored.values_list("accession", "collected_at", "anc_1e9_per_l", "qualifier"):
            if accession:
                existing.add(accession)
            else:
                unkeyed.add(tuple(value))
        for count in counts:
            key = count.accession or (count.collected_at, count.anc_1e9_per_l, count.qualifier)
            if key in existing or key in unkeyed:
                continue
            (existing if count.accession else unkeyed).add(key)
            created.append(_new_count(patient, count, source, user))
        bulk_create_with_history(created, CountResult, default_user=user)
        if created:
            results_changed({patient.pk: [c.collected_at for c in created]}, now)
    return created


def _new_count(patient: Patient, count: CountInput, source: str, user) -> CountResult:
    result = CountResult(
        patient=patient,
        collected_at=count.collected_at,
        anc_1e9_per_l=count.anc_1e9_per_l,
        qualifier=count.qualifier,
        anc_computed=count.anc_computed,
        wbc_1e9_per_l=count.wbc_1e9_per_l,
        neutrophil_pct=count.neutrophil_pct,
        band_pct=count.band_pct,
        platelets_1e9_per_l=count.platelets_1e9_per_l,
        entered_value=count.entered_value,
        entered_unit=count.entered_unit,
        accession=count.accession,
        source=source,
        entered_by=user,
    )
    if count.lln_1e9_per_l is not None:
        result.lln_1e9_per_l = count.lln_1e9_per_l
    # bulk_create skips save(), so grade here as well.
    result.ctcae_grade = clinical.ctcae_grade(result.anc_1e9_per_l, result.lln_1e9_per_l)
    return result


def record_count(patient: Patient, count: CountInput, *, source: str = Source.MANUAL, user=None) -> CountResult | None:
    """Store one count; return None if its accession was already stored (a duplicate)."""
    created = record_counts(patient, [count], source=source, user=user)
    return created[0] if created else None


def correct_count(result: CountResult, count: CountInput, *, user=None) -> CountResult:
    """Replace a stored count's values with a corrected version (history keeps the old one)."""
    now = timezone.now()
    with transaction.atomic():
        moments = [result.collected_at, count.collected_at]
        _apply_correction(result, count)
        results_changed({result.patient_id: moments}, now)
    return result


CORRECTABLE_COUNT_FIELDS = (
    "collected_at",
    "anc_1e9_per_l",
    "qualifier",
    "anc_computed",
    "wbc_1e9_per_l",
    "neutrophil_pct",
    "band_pct",
    "platelets_1e9_per_l",
    "entered_value",
    "entered_unit",
)


def _apply_correction(result: CountResult, count: CountInput) -> None:
    for field in CORRECTABLE_COUNT_FIELDS:
        setattr(result, field, getattr(count, field))
    if count.lln_1e9_per_l is not None:
        result.lln_1e9_per_l = count.lln_1e9_per_l
    result.save()


def delete_result(result: CountResult | GcsfDose | TemperatureReading) -> None:
    """Remove an entry made in error; forecasts that used it are recomputed."""
    now = timezone.now()
    moment = getattr(result, "collected_at", None) or getattr(result, "given_at", None) or result.taken_at
    with transaction.atomic():
        patient_id = result.patient_id
        result.delete()
        results_changed({patient_id: [moment]}, now)

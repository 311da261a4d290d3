"""G-CSF doses and temperature readings: store one, once (its external id, or its time and value)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring.models import GcsfDose, Patient, TemperatureReading
from monitoring.models.results import Source
from monitoring.records.changes import results_changed


def record_gcsf(patient: Patient, *, user=None, source: str = Source.MANUAL, **fields) -> GcsfDose | None:
    """Store a G-CSF dose; return None if it was already stored (same external id, or same time and product)."""
    return _record_event(GcsfDose, ("given_at", "product"), patient, user=user, source=source, **fields)


def record_temperature(
    patient: Patient, *, user=None, source: str = Source.MANUAL, **fields
) -> TemperatureReading | None:
    """Store a temperature reading (temperature_c already converted); None if already stored."""
    return _record_event(TemperatureReading, ("taken_at", "temperature_c"), patient, user=user, source=source,
                         **fields)


def _record_event(model, key_fields: tuple[str, str], patient: Patient, *, user, source: str, **fields):
    """Store one dose or reading; None if stored already: its external id, or without one its time and value.

    The database holds the same keys unique (as for counts): a copy committed by a concurrent
    sender after the check makes the insert fail, and this sender succeeds with None.
    """
    now = timezone.now()
    external_id = fields.get("external_id", "")
    key = {"external_id": external_id} if external_id else {"external_id": "", **{f: fields[f] for f in key_fields}}
    with transaction.atomic():
        if model.objects.filter(patient=patient, **key).exists():
            return None
        try:
            with transaction.atomic():
                event = model.objects.create(patient=patient, entered_by=user, source=source, **fields)
        except IntegrityError:
            return None
        results_changed({patient.pk: [getattr(event, key_fields[0])]}, now)
    return event

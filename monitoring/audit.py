"""Read-access entries for the audit trail (changes are recorded by django-simple-history)."""

from __future__ import annotations

from monitoring.models import AccessLog, ApiToken, Patient


def record_access(
    request, patient: Patient | int, action: str = AccessLog.Action.VIEW, token: ApiToken | None = None
) -> None:
    """Record that a user (or an API token) read a patient's record."""
    user = request.user if getattr(request, "user", None) and request.user.is_authenticated else None
    patient_id = patient if isinstance(patient, int) else patient.pk
    AccessLog.objects.create(patient_id=patient_id, user=user, token=token, action=action, path=request.path[:300])


def record_bulk_access(request, patient_ids, action: str, token: ApiToken | None = None) -> None:
    """Record one read per patient for exports and API reads that cover many patients."""
    user = request.user if getattr(request, "user", None) and request.user.is_authenticated else None
    AccessLog.objects.bulk_create(
        AccessLog(patient_id=pk, user=user, token=token, action=action, path=request.path[:300]) for pk in patient_ids
    )

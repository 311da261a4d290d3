"""Read-access entries for the audit trail (changes are recorded by django-simple-history).

Every request that shows patient data writes exactly one AccessLog entry: a page or form of
one patient (`record_access`), a list of several (`record_list`), or a refusal, when the record
asked for is another team's or does not exist (`record_refusal`, with the requested id).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import ProtectedError

from monitoring.models import AccessLog, ApiToken, Patient


def _user(request):
    return request.user if getattr(request, "user", None) and request.user.is_authenticated else None


def record_access(
    request, patient: Patient | int | None, action: str = AccessLog.Action.VIEW, token: ApiToken | None = None
) -> None:
    """Record that a user (or an API token) read a patient's record (None: a record of no known patient)."""
    patient_id = patient.pk if isinstance(patient, Patient) else patient
    AccessLog.objects.create(patient_id=patient_id, user=_user(request), token=token, action=action,
                             path=request.path[:300])


def record_list(request, patient_ids: Iterable[int], action: str = AccessLog.Action.LIST,
                token: ApiToken | None = None) -> None:
    """Record one read of a page listing several patients (ward, search, inbox, import report)."""
    AccessLog.objects.create(user=_user(request), token=token, action=action, path=request.path[:300],
                             patients_shown=sorted(set(patient_ids)))


def record_refusal(request, requested_id: int | None, patient_id: int | None = None,
                   token: ApiToken | None = None) -> None:
    """Record a refused request for a record outside the user's (or token's) teams, or that does not exist."""
    AccessLog.objects.create(patient_id=patient_id, user=_user(request), token=token, action=AccessLog.Action.REFUSED,
                             path=request.path[:300], requested_id=requested_id)


def record_bulk_access(request, patient_ids, action: str, token: ApiToken | None = None) -> None:
    """Record one read per patient for exports and API reads that cover many patients."""
    AccessLog.objects.bulk_create(
        AccessLog(patient_id=pk, user=_user(request), token=token, action=action, path=request.path[:300])
        for pk in patient_ids
    )


def refuse_deleting_audited_user(sender, instance, **kwargs) -> None:
    """pre_delete: a user the audit trail names is deactivated, never deleted (her rows keep their actor)."""
    if instance.has_audit_rows():
        raise ProtectedError(f"{instance.username} has audit records: deactivate the account instead of deleting it",
                             {instance})

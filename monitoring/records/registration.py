"""New patients: a nurse's registration request, kept whole, and an administrator's decision on it.

Issue 25 item 5: the new-patient form must not tell whether an MRN is registered in another team.
Both an unused MRN and another team's become a request (the same statements run either way), that
an administrator resolves: registered, or refused with a note. MRNs are unique hospital-wide (the
lab feed routes results by MRN), so a request never makes a second patient with the same MRN.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring import jobs
from monitoring.models import Patient, RegistrationRequest, Team, User
from monitoring.transports import email

OPEN = RegistrationRequest.Status.OPEN


def request_registration(mrn: str, values: dict[str, str], team: Team, user: User,
                         now: datetime | None = None) -> RegistrationRequest:
    """Keep a new patient as typed for an administrator to register; return the open request.

    The same MRN sent again by the same nurse (a second click, or corrected details) updates her
    open request instead of making another.
    """
    now = now or timezone.now()
    fields = {"values": values, "team": team, "requested_at": now}
    with transaction.atomic():
        request = RegistrationRequest.objects.select_for_update().filter(mrn=mrn, requested_by=user,
                                                                         status=OPEN).first()
        if request is None:
            try:
                with transaction.atomic():
                    request = RegistrationRequest.objects.create(mrn=mrn, requested_by=user, **fields)
                # A new request is e-mailed to the administrators once it is stored (not for a resend).
                transaction.on_commit(lambda: jobs.publish_registration_waiting(request.pk))
                return request
            except IntegrityError:  # the same form, sent at the same moment: the other post made it
                request = RegistrationRequest.objects.select_for_update().get(mrn=mrn, requested_by=user, status=OPEN)
        for name, value in fields.items():
            setattr(request, name, value)
        request.save(update_fields=list(fields))
    return request


def tell_administrators(request_id: int) -> int:
    """E-mail the active administrators that a registration request waits; return how many were told.

    Sent by a worker (``tasks.tell_registration_waiting``) after the nurse's request is stored: a nurse
    cannot record results for the patient until it is registered, and a lab result for an
    unregistered MRN raises an alert. A request resolved meanwhile is not told. Raises
    ``TransportError`` when the mail server does not take it (the task retries).
    """
    request = RegistrationRequest.objects.select_related("team", "requested_by").filter(pk=request_id).first()
    if request is None or request.status != OPEN:
        return 0
    recipients = sorted(set(User.administrators().exclude(email="").values_list("email", flat=True)))
    if recipients:
        email.send_registration_waiting(request, patient_from(request).initials, recipients)
    return len(recipients)


def register_from_request(request_id: int, admin: User, note: str = "",
                          now: datetime | None = None) -> tuple[bool, str]:
    """Register the patient a request describes; return (done, what happened in words).

    An MRN already registered (in any team) is never registered twice: the request stays open for
    the administrator to move that patient to the team asked for, or to refuse it with a note.
    """
    now = now or timezone.now()
    with transaction.atomic():
        request = RegistrationRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or request.status != OPEN:
            return False, "This request was already resolved."
        existing = Patient.objects.filter(mrn=request.mrn).select_related("team").first()
        if existing is not None:
            return False, (f"MRN {request.mrn} is already registered ({existing.team}): move that patient to "
                           f"{request.team} or refuse this request with a note for the nurse.")
        patient = patient_from(request)
        try:
            patient.full_clean()
            with transaction.atomic():
                patient.save()
        except ValidationError as exc:
            return False, f"MRN {request.mrn} cannot be registered as typed: {'; '.join(exc.messages)}"
        except IntegrityError:
            return False, f"MRN {request.mrn} was registered meanwhile: nothing added."
        request.status, request.patient = RegistrationRequest.Status.REGISTERED, patient
        request.resolved_by, request.resolved_at, request.resolution_note = admin, now, note.strip()
        request.save()
    return True, f"Patient {patient.mrn} registered in {patient.team}."


def refuse_request(request_id: int, admin: User, note: str, now: datetime | None = None) -> bool:
    """Refuse an open request with a note for the nurse; return False if it was not open."""
    return bool(RegistrationRequest.objects.filter(pk=request_id, status=OPEN).update(
        status=RegistrationRequest.Status.REFUSED, resolved_by=admin, resolved_at=now or timezone.now(),
        resolution_note=note.strip()))


def patient_from(request: RegistrationRequest) -> Patient:
    """Return the (unsaved) patient a request's typed values describe, in the team it asked for."""
    patient = Patient(mrn=request.mrn, team=request.team)
    for name, text in request.values.items():
        field = Patient._meta.get_field(name)
        if name in ("mrn", "team"):
            continue
        if field.is_relation:
            setattr(patient, field.attname, int(text) if text else None)
        else:
            setattr(patient, name, field.to_python(text) if text != "" or not field.null else None)
    return patient

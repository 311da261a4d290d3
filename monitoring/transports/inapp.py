"""In-app inbox: the Alert row is the inbox entry; a delivery records who it is for.

Nothing travels over a network, so "sending" checks that the recipient is still an active
member of the patient's team; a delivery to someone who left is a permanent failure.
"""

from __future__ import annotations

from monitoring.transports import TransportError


def send(delivery) -> None:
    from monitoring.models import User

    patient = delivery.alert.patient
    if patient is None:  # a result of an unregistered MRN, for a named list: anyone still active
        if not User.objects.filter(username=delivery.recipient, is_active=True).exists():
            raise TransportError(f"{delivery.recipient} is no longer an active user", permanent=True)
        return
    user = User.objects.filter(username=delivery.recipient, is_active=True, teams=patient.team_id).first()
    if user is None:
        raise TransportError(f"{delivery.recipient} is not an active member of {patient.team}", permanent=True)

"""No existence oracles (issue 25 item 5): another team's record answers exactly as a missing one.

Same status, same body, and the same database work: the lookup of a record named by id in a URL
(a count, a cycle) is one query whether the record exists in another team or not at all, and the
refusal is one insert either way. (Before, another team's count cost two queries more than a missing
one: about 2.5 ms, enough to tell them apart from outside.)
"""

from __future__ import annotations

from django.db.models import Model, QuerySet

from monitoring.audit import record_access
from monitoring.models import AccessLog, Patient
from monitoring.views import refuse


def team_record(request, queryset: QuerySet, pk: int, patient_of, action: str = AccessLog.Action.FORM) -> Model:
    """Return the record `pk` if its patient is in the user's teams and log the read; else refuse (404).

    `queryset` should select_related the patient; `patient_of(record)` returns it. The user's
    teams and the record are two queries in every case, so existence costs no extra time.
    """
    team_ids = set(request.user.teams.values_list("pk", flat=True))
    record = queryset.filter(pk=pk).first()
    patient: Patient | None = patient_of(record) if record is not None else None
    if patient is None or patient.team_id not in team_ids:
        refuse(request, pk, patient.pk if patient is not None else None)
    record_access(request, patient, action)
    return record

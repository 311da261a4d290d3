"""Views, one module per area; each module holds its own `urlpatterns`."""
from django.http import Http404

from monitoring.audit import record_access, record_refusal
from monitoring.models import AccessLog, Patient

NOT_IN_YOUR_TEAMS = "Not found in your teams."


def patient_for(request, pk: int, action: str = AccessLog.Action.VIEW, *, requested_id: int | None = None) -> Patient:
    """Return a patient of the user's teams and record the read; else record the refusal and 404.

    The one place pages are team-scoped. `requested_id` is the id in the URL when it names
    another record of the patient (a count, a cycle); the refusal is logged with it.
    """
    patient = Patient.objects.visible_to(request.user).select_related("team", "responsible_nurse").filter(pk=pk).first()
    if patient is None:
        refuse(request, pk if requested_id is None else requested_id,
               pk if Patient.objects.filter(pk=pk).exists() else None)
    record_access(request, patient, action)
    return patient


def refuse(request, requested_id: int, patient_id: int | None = None):
    """Record a refused request and answer 404, the same whether the record exists or not."""
    record_refusal(request, requested_id, patient_id)
    raise Http404(NOT_IN_YOUR_TEAMS)

"""Views, one module per area; each module holds its own `urlpatterns`."""
from django.shortcuts import get_object_or_404

from monitoring.models import Patient


def patient_for(request, pk: int) -> Patient:
    """Return a patient of the user's teams, or 404: the one place pages are team-scoped."""
    patients = Patient.objects.visible_to(request.user).select_related("team", "responsible_nurse")
    return get_object_or_404(patients, pk=pk)

"""A grade 4 alert with its deliveries scheduled, not sent, and the team's webhook secret."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from monitoring import clinical, forecasts, records
from monitoring.models import Alert

SECRET = "team-webhook-secret"


def raise_grade4(patient, django_capture_on_commit_callbacks) -> Alert:
    """Save a grade 4 count and run the recompute in this process; return the alert.

    The on-commit sends are captured, not run: each test calls deliver() itself.
    """
    with django_capture_on_commit_callbacks(execute=False):
        records.record_count(patient, clinical.parse_count(
            collected_at=timezone.now() - timedelta(hours=1), unit="10^9/L", anc=Decimal("0.3")))
    with django_capture_on_commit_callbacks(execute=False) as sends:
        forecasts.recompute_cycle(patient.courses.get().cycles.get(number=1).pk)
    assert sends, "a new alert schedules its deliveries on commit"
    return Alert.objects.get(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED)

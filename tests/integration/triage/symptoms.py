"""The telephone-triage symptom table, loaded as `make run` loads it."""

from __future__ import annotations

from monitoring.models import TriageSymptom
from monitoring.triage.defaults import DEFAULT_TABLE


def load_triage_table() -> dict[str, TriageSymptom]:
    """(Re)load the default table (a transactional test truncates the rows migration 0019 loaded)."""
    if not TriageSymptom.objects.exists():
        TriageSymptom.objects.bulk_create(TriageSymptom(name=name, position=i, green=g, amber=a, red=r)
                                          for i, (name, g, a, r) in enumerate(DEFAULT_TABLE))
    return {s.name: s for s in TriageSymptom.objects.all()}

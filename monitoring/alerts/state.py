"""What the rules and the lifecycle need to know of the patients' existing alerts (one query)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitoring.models import Alert


@dataclass(frozen=True)
class LiveAlert:
    """What keeping, clearing or resolving an unresolved alert needs to know about it."""

    pk: int
    severity: int
    cleared_at: datetime | None
    acknowledged_at: datetime | None


@dataclass
class PatientAlerts:
    """What the rules and apply_verdicts need from the patients' alerts, read in one query.

    `live`: the unresolved alerts, by (patient, cycle, kind); `alerted`: every (patient, cycle,
    kind, count) that already had an alert; `fn_cycle_ids`: each patient's cycles with a
    febrile-neutropenia alert (prior_febrile_neutropenia).
    """

    live: dict[tuple, LiveAlert] = field(default_factory=dict)
    alerted: set[tuple] = field(default_factory=set)
    fn_cycle_ids: dict[int, set[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, patient_ids) -> PatientAlerts:
        alerts = cls()
        rows = Alert.objects.filter(patient_id__in=list(patient_ids)).order_by().values_list(
            "pk", "patient_id", "cycle_id", "kind", "severity", "cleared_at", "acknowledged_at", "resolved_at",
            "evidence__count_id")
        for pk, patient_id, cycle_id, kind, severity, cleared_at, acknowledged_at, resolved_at, count_id in rows:
            alerts.alerted.add((patient_id, cycle_id, kind, count_id))
            if resolved_at is None:
                alerts.live[(patient_id, cycle_id, kind)] = LiveAlert(pk, severity, cleared_at, acknowledged_at)
            if kind == Alert.Kind.FEBRILE_NEUTROPENIA and cycle_id is not None:
                alerts.fn_cycle_ids.setdefault(patient_id, set()).add(cycle_id)
        return alerts

    def __contains__(self, key: tuple) -> bool:
        """Return True if the (patient, cycle, kind, count) already had an alert."""
        return key in self.alerted

"""What the rules and the lifecycle need to know of the patients' existing alerts (two queries)."""

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
    kind: str = ""
    shown: dict = field(default_factory=dict)  # the evidence it shows now (latest, else what raised it)
    message: str = ""  # the message it shows now
    escalated_at: datetime | None = None
    antibiotics_given_at: datetime | None = None


@dataclass
class PatientAlerts:
    """What the rules and apply_verdicts need from the patients' alerts, read in two queries.

    `live`: the unresolved alerts, by (patient, cycle, kind); `alerted`: every (patient, cycle,
    kind, count) that already had an alert; `fn_cycle_ids`: each patient's cycles with a
    febrile-neutropenia alert (prior_febrile_neutropenia); `last_cleared`: when the last alert of
    each (patient, cycle, kind) was resolved (the re-arm time of hysteresis).
    """

    live: dict[tuple, LiveAlert] = field(default_factory=dict)
    alerted: set[tuple] = field(default_factory=set)
    fn_cycle_ids: dict[int, set[int]] = field(default_factory=dict)
    last_cleared: dict[tuple, datetime] = field(default_factory=dict)
    _memory: dict | None = field(default=None, repr=False)

    @classmethod
    def load(cls, patient_ids) -> PatientAlerts:
        alerts = cls()
        rows = Alert.objects.filter(patient_id__in=list(patient_ids)).order_by().values_list(
            "pk", "patient_id", "cycle_id", "kind", "resolved_at", "evidence__count_id")
        live_ids = []
        for pk, patient_id, cycle_id, kind, resolved_at, count_id in rows:
            alerts.alerted.add((patient_id, cycle_id, kind, count_id))
            if resolved_at is None:
                live_ids.append(pk)
            else:
                key = (patient_id, cycle_id, kind)
                alerts.last_cleared[key] = max(resolved_at, alerts.last_cleared.get(key, resolved_at))
            if kind == Alert.Kind.FEBRILE_NEUTROPENIA and cycle_id is not None:
                alerts.fn_cycle_ids.setdefault(patient_id, set()).add(cycle_id)
        alerts._load_live(live_ids)
        return alerts

    def _load_live(self, ids: list[int]) -> None:
        """Read what the lifecycle compares and carries over of the live alerts (their evidence)."""
        rows = Alert.objects.filter(pk__in=ids).order_by().values_list(
            "pk", "patient_id", "cycle_id", "kind", "severity", "cleared_at", "acknowledged_at", "evidence",
            "latest_evidence", "message", "latest_message", "escalated_at", "antibiotics_given_at")
        for (pk, patient_id, cycle_id, kind, severity, cleared_at, acknowledged_at, evidence, latest_evidence,
             message, latest_message, escalated_at, antibiotics_given_at) in rows:
            self.live[(patient_id, cycle_id, kind)] = LiveAlert(
                pk, severity, cleared_at, acknowledged_at, kind, latest_evidence or evidence,
                latest_message or message, escalated_at, antibiotics_given_at)

    def memory(self, patient_id: int, cycle_id: int | None) -> tuple[frozenset[str], dict]:
        """Return (the kinds live and not cleared, when each kind last resolved) for one cycle: the rules' memory.

        Indexed by cycle on first use, so an import of 1,000 patients does not scan every alert per cycle.
        """
        if self._memory is None:
            self._memory = {}
            for (p, c, kind), alert in self.live.items():
                if alert.cleared_at is None:
                    self._memory.setdefault((p, c), (set(), {}))[0].add(kind)
            for (p, c, kind), resolved_at in self.last_cleared.items():
                self._memory.setdefault((p, c), (set(), {}))[1][kind] = resolved_at
        live, cleared = self._memory.get((patient_id, cycle_id), (set(), {}))
        return frozenset(live), dict(cleared)

    def live_evidence(self, patient_id: int, cycle_id: int | None) -> dict[str, dict]:
        """Return the latest evidence of the cycle's live alerts, by kind."""
        return {kind: alert.shown for (p, c, kind), alert in self.live.items() if p == patient_id and c == cycle_id}

    def __contains__(self, key: tuple) -> bool:
        """Return True if the (patient, cycle, kind, count) already had an alert."""
        return key in self.alerted

"""Alerts: from facts to rules to a live alert, and who is told, how, and when it escalates.

- `rules`: the pure rules (facts in, findings out); `facts`: what the rules read from the database;
- `evaluate`: run the rules at save time, after a recompute, and for a patient with no cycle;
- `lifecycle` and `state`: raise, keep, clear, acknowledge and resolve an alert;
- `held`: counts kept for review still alert; `unregistered`: so do an unregistered MRN's results;
- `recipients`: who is told on which channel;
- `delivery`: one row per channel and recipient, sent after commit; `escalation`; `sweeper`;
- `presentation`: alerts in words (`evidence`: their evidence as sentences; `words`: numbers and
  times as a nurse says them); `quality`: how alerts are answered.

Callers outside this package use the names re-exported here.
"""

from monitoring.alerts.delivery import deliver, dispatch, redispatch_pending, redispatch_stuck
from monitoring.alerts.escalation import escalate_due
from monitoring.alerts.evaluate import (
    evaluate_alerts,
    evaluate_locked,
    evaluate_observed,
    evaluate_patient_alerts,
    late_entry_words,
)
from monitoring.alerts.facts import cycle_facts, load_measurements, load_results, patient_facts
from monitoring.alerts.held import evaluate_held, held_anc
from monitoring.alerts.lifecycle import acknowledge_alert, apply_verdicts, record_antibiotics
from monitoring.alerts.recipients import critical_recipients, notify_recipients
from monitoring.alerts.state import PatientAlerts
from monitoring.alerts.sweeper import cycles_to_sweep, sweep
from monitoring.alerts.unregistered import alert_unregistered, resolve_unregistered

__all__ = [
    "PatientAlerts",
    "acknowledge_alert",
    "alert_unregistered",
    "apply_verdicts",
    "critical_recipients",
    "cycle_facts",
    "cycles_to_sweep",
    "deliver",
    "dispatch",
    "escalate_due",
    "evaluate_alerts",
    "evaluate_held",
    "evaluate_locked",
    "evaluate_observed",
    "evaluate_patient_alerts",
    "held_anc",
    "late_entry_words",
    "load_measurements",
    "load_results",
    "notify_recipients",
    "patient_facts",
    "record_antibiotics",
    "redispatch_pending",
    "redispatch_stuck",
    "resolve_unregistered",
    "sweep",
]

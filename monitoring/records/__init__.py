"""Records: every write of a result (blood count, G-CSF dose, temperature) goes through here.

Each write path changes state in one transaction, marks the forecasts it affects stale (recomputed
on commit, `forecasts.inputs`), and runs the observed alert rules for the patients it touched in the
same transaction (`alerts.evaluate.evaluate_observed`): what a result shows is alerted at save time,
whether or not the broker, the worker or a forecast is there.

- `counts`: store, correct and remove counts; `events`: G-CSF doses and temperatures;
- `batches`: a whole imported file (or an MLLP group commit) in one transaction;
- `changes`: what a change of results sets off;
- `registration`: a new patient as a request an administrator resolves (no existence oracle).

Callers outside this package use the names re-exported here.
"""

from monitoring.records.batches import ResultBatch, insert_with_history, record_batch
from monitoring.records.changes import results_changed
from monitoring.records.counts import correct_count, delete_result, record_count, record_counts
from monitoring.records.events import record_gcsf, record_temperature
from monitoring.records.registration import (
    refuse_request,
    register_from_request,
    request_registration,
    tell_administrators,
)

__all__ = ["ResultBatch", "correct_count", "delete_result", "insert_with_history", "record_batch", "record_count",
           "record_counts", "record_gcsf", "record_temperature", "refuse_request", "register_from_request",
           "request_registration", "results_changed", "tell_administrators"]

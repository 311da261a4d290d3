"""Read paths: what the forecast engine, pages and charts are given.

Queries live here, not in views or chart code, so there is one place to keep the number of
queries fixed. One module per reader: the engine's input, the ward, the patient page, the alert
inbox, calibration; the names below are re-exported so callers import from `monitoring.selectors`.
"""

from monitoring.selectors.alerts import alert_inbox, attach_events, open_alert_count, visible_alerts
from monitoring.selectors.calibration import calibration_summary
from monitoring.selectors.cycles import active_course, active_cycles, current_cycle
from monitoring.selectors.engine_input import (
    _local_iso,
    forecast_history,
    from_local_iso,
    lapsed_gcsf_plan_cycle_ids,
    learning_cycles,
    stale_cycle_ids,
)
from monitoring.selectors.patient import CycleData, PatientPage, patient_page
from monitoring.selectors.ward import (
    RISK_HIGH_P_GRADE4,
    RISK_LEVELS,
    RISK_MEDIUM_P_GRADE3PLUS,
    RISK_MEDIUM_P_GRADE4,
    TREND_STEADY_FRACTION,
    WardFilters,
    WardRow,
    shown,
    ward_rows,
)
from monitoring.selectors.ward_text import ward_lines

__all__ = [
    "attach_events",
    "active_course", "active_cycles", "current_cycle",
    "RISK_HIGH_P_GRADE4", "RISK_LEVELS", "RISK_MEDIUM_P_GRADE3PLUS", "RISK_MEDIUM_P_GRADE4", "TREND_STEADY_FRACTION",
    "CycleData", "PatientPage", "WardFilters", "WardRow", "_local_iso", "alert_inbox", "calibration_summary",
    "forecast_history", "from_local_iso", "lapsed_gcsf_plan_cycle_ids", "learning_cycles", "open_alert_count",
    "patient_page", "stale_cycle_ids",
    "shown", "visible_alerts", "ward_lines", "ward_rows",
]

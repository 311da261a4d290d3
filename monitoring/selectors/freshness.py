"""Whether a cycle's stored forecast is fresh: the one rule the ward row and the patient page share."""

from __future__ import annotations

from monitoring.models import Cycle, Forecast

STALE = "stale"      # results came in after the stored forecast was made: it is being recomputed
PENDING = "pending"  # the cycle has inputs but no forecast yet: the first one is being computed


def forecast_state(cycle: Cycle | None, forecast: Forecast | None) -> str:
    """Return STALE, PENDING or "" (fresh, or nothing to forecast) for a cycle and its stored forecast.

    Every saved input bumps the cycle's `input_version` in the same transaction, and a forecast keeps
    the version it was made from, so "older than the latest result" is a comparison of two numbers.
    """
    if cycle is None:
        return ""
    if forecast is None:
        return PENDING if cycle.input_version > 0 else ""
    return STALE if forecast.input_version < cycle.input_version else ""

"""Histories in the nadir-bench input format that more than one forecasting test reads."""

from __future__ import annotations


def docetaxel_history(**changes) -> dict:
    """Return a cycle-2 docetaxel 75 history with counts from cycle 1."""
    history = {
        "id": "p1",
        "regimen": {"code": "DOCETAXEL-75-Q3W", "name": "Docetaxel 75 mg/m2 q3w", "cycle_length_days": 21,
                    "fn_risk": "intermediate"},
        "doses": [{"time": "2026-05-11T09:00", "dose_fraction": 1.0},
                  {"time": "2026-06-01T09:00", "dose_fraction": 1.0}],
        "gcsf": [],
        "counts": [{"time": "2026-05-11T07:00", "anc": 4.8, "unit": "10^9/L"},
                   {"time": "2026-05-15T10:00", "anc": 2.6, "unit": "10^9/L"},
                   {"time": "2026-05-19T10:00", "anc": 0.9, "unit": "10^9/L"},
                   {"time": "2026-05-25T10:00", "anc": 1.1, "unit": "10^9/L"},
                   {"time": "2026-06-01T07:00", "anc": 5.1, "unit": "10^9/L"}],
        "forecast_cycle_start": "2026-06-01T09:00",
    }
    history.update(changes)
    return history

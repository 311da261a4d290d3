"""The forecast's courses honour the counts measured in the cycle (issue 22): one forecast, one picture."""

from __future__ import annotations

import pytest

from monitoring.forecasting import forecast_history


def docetaxel(counts: list[tuple[str, float]]) -> dict:
    return {
        "id": "consistency",
        "regimen": {"code": "DOCETAXEL-75-Q3W", "name": "Docetaxel 75 mg/m2 q3w", "cycle_length_days": 21,
                    "fn_risk": "intermediate", "chemo_days": [1], "next_cycle_anc": 1.5},
        "doses": [{"time": "2026-03-02T09:00", "dose_fraction": 1.0}],
        "gcsf": [],
        "counts": [{"time": t, "anc": anc, "unit": "10^9/L"} for t, anc in counts],
        "forecast_cycle_start": "2026-03-02T09:00",
        "as_of": "2026-03-03T10:00",
    }


def at(result: dict, time: str) -> dict:
    return next(p for p in result["trajectory"] if p["time"] == time)


def test_a_low_count_on_day_2_brings_the_trajectory_down_with_the_nadir():
    result = forecast_history(docetaxel([("2026-03-02T07:00", 4.4), ("2026-03-03T08:00", 0.1)]))
    assert result["nadir"]["anc"] <= 0.1
    point = at(result, "2026-03-03T08:00")  # the trajectory has a point at the count itself
    assert point["anc"] <= 0.2 and point["lo80"] <= result["nadir"]["anc"] <= point["hi80"]
    lowest = min(p["anc"] for p in result["trajectory"])
    assert result["nadir"]["interval80"][0] <= lowest <= result["nadir"]["interval80"][1]
    # Later in the cycle the courses climb back towards the model's own (not held at 0.1).
    assert at(result, "2026-03-23T09:00")["anc"] > 1.0


def test_two_counts_of_one_moment_give_the_same_forecast_in_either_order():
    counts = [("2026-03-02T07:00", 4.4), ("2026-03-03T08:00", 2.9), ("2026-03-03T08:00", 0.4)]
    first = forecast_history(docetaxel(counts))
    swapped = forecast_history(docetaxel([counts[0], counts[2], counts[1]]))
    assert first["nadir"]["anc"] <= 0.4 and swapped["nadir"]["anc"] <= 0.4
    assert first["nadir"]["anc"] == pytest.approx(swapped["nadir"]["anc"], rel=0.15)
    assert at(first, "2026-03-03T08:00")["anc"] == pytest.approx(at(swapped, "2026-03-03T08:00")["anc"], rel=0.15)

"""The what-if overlay of the current cycle's chart: each scenario's median and 80 % band (issue 23).

The what-if table is fetched after the page is drawn (views/whatif.py); it carries these traces in
an attribute, and static/js/whatif.js adds them to the cycle's chart, hidden until the user ticks
the scenario. "As planned" is the forecast the chart already draws, so it has no overlay.
"""

from __future__ import annotations

from datetime import timedelta

from monitoring.charts.common import ANC_UNIT, LOG_FLOOR_1E9_PER_L, _Axis
from monitoring.clinical import number_text

# Okabe-Ito colours (told apart with colour blindness too), each with its own dash, none the
# forecast's blue: no two scenarios depend on colour alone.
SCENARIO_STYLE = {
    "peg_day2": ("#009E73", "dot", "rgba(0,158,115,0.13)"),
    "filgrastim": ("#CC79A7", "dashdot", "rgba(204,121,167,0.13)"),
    "dose_80": ("#D55E00", "longdash", "rgba(213,94,0,0.11)"),
    "delay_1w": ("#8C6D00", "solid", "rgba(140,109,0,0.11)"),
}


def chart_id(cycle_pk: int) -> str:
    """Return the DOM id of a cycle's chart on the patient page (views/dashboard.py names its figures)."""
    return f"chart-fig-cycle-{cycle_pk}"


def scenario_traces(scenarios) -> dict:
    """Return the overlay of the current cycle's chart: its DOM id and, per scenario, its three traces.

    `scenarios`: a forecasts.whatif CycleScenarios. Each scenario's traces share a legend group
    and carry ``meta`` "whatif:<key>", by which static/js/whatif.js shows and hides them.
    """
    cycle = scenarios.cycle
    axis = _Axis(cycle.day1)
    overlay = []
    for row in scenarios.current_rows:
        if row.key not in SCENARIO_STYLE:
            continue
        overlay.append({"key": row.key, "label": row.label, "traces": _traces(row, axis, cycle.day1)})
    return {"chart": chart_id(cycle.pk), "scenarios": overlay}


def _traces(row, axis: _Axis, day1) -> list[dict]:
    colour, dash, fill = SCENARIO_STYLE[row.key]
    curve = row.curve
    moments = [day1 + timedelta(hours=h) for h in curve["hours"]]
    x = [axis.x(m) for m in moments]
    meta = f"whatif:{row.key}"
    common = {"type": "scatter", "mode": "lines", "xaxis": "x", "yaxis": "y", "x": x, "legendgroup": meta,
              "meta": meta, "visible": False}
    name = f"What if: {row.label}"
    return [
        {**common, "name": f"{name}, 80 % band (low)", "y": [max(v, LOG_FLOOR_1E9_PER_L) for v in curve["lo80"]],
         "line": {"width": 0, "color": colour}, "showlegend": False, "hoverinfo": "skip"},
        {**common, "name": f"{name}, 80 % band", "y": [max(v, LOG_FLOOR_1E9_PER_L) for v in curve["hi80"]],
         "line": {"width": 0, "color": colour}, "fill": "tonexty", "fillcolor": fill, "showlegend": False,
         "hoverinfo": "skip"},
        {**common, "name": name, "y": [max(v, LOG_FLOOR_1E9_PER_L) for v in curve["anc"]],
         "line": {"color": colour, "width": 2, "dash": dash},
         "hovertext": [f"{row.label}: {number_text(mid)} {ANC_UNIT} (80 %: {number_text(low)} to {number_text(high)})"
                       f"<br>{axis.when(m)}"
                       for mid, low, high, m in zip(curve["anc"], curve["lo80"], curve["hi80"], moments, strict=True)],
         "hoverinfo": "text"},
    ]

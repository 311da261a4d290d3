"""Plotly figures for the patient page, built from selector output; no ORM queries here.

Plain dicts rather than `plotly.graph_objects`: building a validated `go.Figure` costs about 13 ms
per chart, and a patient with 8 cycles has 10 charts; the tests still check every figure against
Plotly's schema with `go.Figure(fig)`. `common` holds what every chart shares, `traces` the traces,
`figures` the three figures, `scenarios` the what-if overlay of the current cycle's chart; the
public names are re-exported here.
"""

from monitoring.charts.common import ANC_UNIT, LOG_FLOOR_1E9_PER_L, MAX_CHART_POINTS, decimate, local_iso
from monitoring.charts.figures import cycle_figure, overlay_figure, timeline_figure
from monitoring.charts.scenarios import scenario_traces

__all__ = ["ANC_UNIT", "LOG_FLOOR_1E9_PER_L", "MAX_CHART_POINTS", "cycle_figure", "decimate", "local_iso",
           "overlay_figure", "scenario_traces", "timeline_figure"]

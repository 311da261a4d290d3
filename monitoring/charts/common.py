"""What every chart shares: colours, units, the x axis (a date or a day of cycle), bands, axes, layout.

Figures are plain dicts in Plotly's figure schema (data + layout), put in the page with Django's
`json_script` and drawn by static/js/charts.js with the plotly.js served from our own static files.
"""

from __future__ import annotations

import math
from datetime import datetime

from django.utils import timezone

from monitoring import clinical
from monitoring.cycle_calendar import cycle_day_position, day_of_cycle

ANC_AXIS_TITLE = "ANC (x10<sup>9</sup>/L)"
ANC_UNIT = "x10⁹/L"
# Plotted floor so a count of 0 stays visible on the log scale; hover shows the real value.
LOG_FLOOR_1E9_PER_L = 0.01
GRADE_COLOURS = {0: "#2e7d32", 1: "#558b2f", 2: "#b28704", 3: "#e65100", 4: "#b71c1c"}
GRADE_SYMBOLS = {0: "circle", 1: "circle", 2: "square", 3: "diamond", 4: "x"}
GCSF_STYLE = {
    clinical.FILGRASTIM: ("Filgrastim", "triangle-up", "#6a1b9a"),
    clinical.PEGFILGRASTIM: ("Pegfilgrastim", "star", "#00838f"),
    clinical.LIPEGFILGRASTIM: ("Lipegfilgrastim", "star-diamond", "#00695c"),
}
CHEMO_ROW = "Chemotherapy"
FORECAST_COLOUR = "#1f6fb2"
TODAY_COLOUR = "#6a1b9a"
# Earlier cycles in the overlay: the Okabe-Ito palette (told apart with colour blindness too),
# each with its own dash, so no two cycles depend on colour alone.
CYCLE_COLOURS = ["#E69F00", "#009E73", "#CC79A7", "#D55E00", "#8C6D00", "#999999", "#56B4E9", "#0072B2"]
CYCLE_DASHES = ["dot", "dash", "dashdot", "longdash", "longdashdot", "solid"]
# Log-axis ticks a nurse reads as numbers (Plotly would label 0.5 and 0.2 as "5" and "2").
LOG_TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]
# Linear ANC axis: at least this high, so the grade bands (up to 1.5) take a readable share.
LINEAR_MIN_TOP_1E9_PER_L = 3.0
# Domains of the three stacked panels, bottom to top: treatment events, temperature, ANC.
EVENTS_DOMAIN, TEMPERATURE_DOMAIN, ANC_DOMAIN = [0, 0.12], [0.18, 0.36], [0.42, 1]
# A series longer than this is decimated (a 90,000-count history once made a 52 MB page).
MAX_CHART_POINTS = 2000


def decimate(points: list, value, limit: int = MAX_CHART_POINTS) -> list:
    """Return at most `limit` of the time-ordered `points`, keeping each stretch's lowest and highest.

    Min-max decimation: the series is cut into limit/2 stretches and each keeps its extremes,
    so nadirs and peaks (what a nurse looks for) survive; the tables and exports keep every point.
    """
    if len(points) <= limit:
        return points
    stretches = limit // 2
    size = -(-len(points) // stretches)  # ceiling division
    kept = []
    for start in range(0, len(points), size):
        stretch = points[start:start + size]
        low, high = min(stretch, key=value), max(stretch, key=value)
        kept += sorted({id(p): p for p in (low, high)}.values(), key=stretch.index)
    return kept


def plain(text: str) -> str:
    """Return typed-in text for a Plotly label: Plotly draws a little HTML there (links among it).

    Only &, < and > are escaped: those are the entities Plotly turns back into characters.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def local_iso(moment: datetime) -> str:
    return timezone.localtime(moment).replace(tzinfo=None).isoformat(timespec="minutes")


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%d %b %Y %H:%M")


def _grade_bands() -> tuple[list[dict], list[dict]]:
    """Return shaded CTCAE grade bands and their labels (text, not only colour).

    Each label sits in the middle of its band at the right edge, short enough to fit a thin band;
    its y is in data units (charts.js moves it for the log scale).
    """
    bands = [
        (LOG_FLOOR_1E9_PER_L, float(clinical.GRADE4_BELOW), "rgba(183,28,28,0.12)", "Grade 4 (< 0.5)"),
        (float(clinical.GRADE4_BELOW), float(clinical.GRADE3_BELOW), "rgba(230,81,0,0.10)", "Grade 3 (0.5 to < 1.0)"),
        (float(clinical.GRADE3_BELOW), float(clinical.GRADE2_BELOW), "rgba(178,135,4,0.10)", "Grade 2 (1.0 to < 1.5)"),
    ]
    shapes, annotations = [], []
    for low, high, colour, label in bands:
        shapes.append({"type": "rect", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": low, "y1": high,
                       "fillcolor": colour, "line": {"width": 0}, "layer": "below"})
        shapes.append({"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": high, "y1": high,
                       "line": {"color": "#9aa5b1", "width": 1, "dash": "dot"}, "layer": "below"})
        middle_linear = (max(low, 0) + high) / 2
        middle_log = math.sqrt(max(low, 0.05) * high)
        # Left edge: the right edge belongs to the next-cycle threshold label, which sits on a band edge.
        annotations.append({"xref": "paper", "yref": "y", "x": 0, "y": middle_linear, "xanchor": "left",
                            "yanchor": "middle", "text": label, "showarrow": False,
                            "font": {"size": 9, "color": "#3d4651"}, "name": f"band:{middle_linear}:{middle_log}"})
    return shapes, annotations


def _next_cycle_line(threshold: float) -> tuple[dict, dict]:
    shape = {"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold,
             "line": {"color": FORECAST_COLOUR, "width": 1.5, "dash": "dash"}}
    label = {"xref": "paper", "yref": "y", "x": 1, "y": threshold, "xanchor": "right", "yanchor": "bottom",
             "text": f"Next cycle needs ANC ≥ {threshold:g} {ANC_UNIT}", "showarrow": False,
             "font": {"size": 10, "color": FORECAST_COLOUR}, "bgcolor": "rgba(255,255,255,0.7)"}
    return shape, label


def _today(x, label: str) -> tuple[dict, dict]:
    """Return the "today" line and its label (x in the chart's own units)."""
    line = {"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
            "line": {"color": TODAY_COLOUR, "width": 2}}
    note = {"xref": "x", "yref": "paper", "x": x, "y": 1, "xanchor": "left", "yanchor": "bottom",
            "text": label, "showarrow": False, "font": {"size": 11, "color": TODAY_COLOUR}}
    return line, note


class _Axis:
    """How a chart places a moment on its x axis: a date, or a day of a cycle."""

    def __init__(self, day1: datetime | None = None):
        self.day1 = day1

    def x(self, moment: datetime):
        if self.day1 is None:
            return local_iso(moment)
        return round(cycle_day_position(moment, self.day1, timezone.get_current_timezone()), 3)

    def x_of_iso(self, iso: str):
        return iso if self.day1 is None else self.x(timezone.make_aware(datetime.fromisoformat(iso)))

    def when(self, moment: datetime) -> str:
        """Return hover text for a moment: its date, and its whole day of cycle on a cycle chart."""
        if self.day1 is None:
            return _when(moment)
        return f"Day {_whole_day(moment, self.day1)}, {_when(moment)}"


def _whole_day(moment: datetime, day1: datetime) -> int:
    """Return the day of cycle (calendar days in clinic time, see monitoring.cycle_calendar)."""
    return day_of_cycle(moment, day1, timezone.get_current_timezone())




def _legend() -> dict:
    # Below the plot, never over it or the title; Plotly grows the bottom margin to fit it.
    # (charts.js puts it two entries a row, lower, on a phone.)
    return {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.16, "yanchor": "top", "font": {"size": 11}}


def _y_ranges(data: list[dict]) -> dict:
    """Return the linear and log ANC ranges from the values on the ANC axis (for charts.js).

    The linear axis is scaled to the measured counts when there are any, so the grade bands keep a
    readable height; a forecast rebound above them is cut off (its hover text still gives values,
    and the log scale shows it whole).
    """
    values = [v for trace in data if trace.get("yaxis", "y") == "y" and trace.get("meta") != "forecast-band"
              for v in trace["y"] if isinstance(v, (int, float))]
    measured = [v for trace in data if trace.get("meta") in ("counts", "overlay-counts")
                for v in trace["y"] if isinstance(v, (int, float))]
    top = max(values, default=LINEAR_MIN_TOP_1E9_PER_L)
    bottom = min(values, default=0.1)
    linear_top = max(measured) * 1.2 if measured else top * 1.15
    return {
        "linear_range": [0, round(max(LINEAR_MIN_TOP_1E9_PER_L, linear_top), 2)],
        "log_range": [round(math.log10(min(0.08, bottom * 0.7)), 3), round(math.log10(max(5.0, top * 1.6)), 3)],
        "log_ticks": LOG_TICKS,
    }


def _day_axis(first_day: float, last_day: float) -> dict:
    return {"title": {"text": "Day of cycle (day 1 = chemotherapy)", "font": {"size": 12}}, "anchor": "y3",
            "range": [first_day, last_day], "tickmode": "linear", "tick0": 1, "dtick": 7 if last_day > 15 else 1,
            "tickformat": "d", "showgrid": True, "gridcolor": "#eef2f6", "zeroline": False,
            "minor": {"tickmode": "linear", "tick0": 1, "dtick": 1, "showgrid": True, "gridcolor": "#f6f8fa"}}


def _layout(title: str, xaxis: dict, event_rows: list[str], has_temperature: bool) -> dict:
    anc_domain = ANC_DOMAIN if has_temperature else [TEMPERATURE_DOMAIN[0], 1]
    return {
        "title": {"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"},
        "height": 540,
        "margin": {"l": 56, "r": 12, "t": 56, "b": 40},
        "hovermode": "closest",
        "legend": _legend(),
        "xaxis": xaxis,
        "yaxis": {"title": {"text": ANC_AXIS_TITLE}, "domain": anc_domain, "type": "linear",
                  "zeroline": False, "gridcolor": "#eef2f6"},
        "yaxis2": {"title": {"text": "Temp (°C)"}, "domain": TEMPERATURE_DOMAIN, "visible": has_temperature,
                   "gridcolor": "#eef2f6"},
        "yaxis3": {"domain": EVENTS_DOMAIN, "type": "category", "categoryorder": "array",
                   "categoryarray": event_rows, "fixedrange": True, "showgrid": False, "automargin": True,
                   "range": [-0.5, max(len(event_rows), 1) - 0.5]},
        "plot_bgcolor": "#fff",
        "paper_bgcolor": "#fff",
    }



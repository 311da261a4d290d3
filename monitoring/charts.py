"""Plotly figures for the patient page, built from selector output; no ORM queries here.

Figures are plain dicts in Plotly's figure schema (data + layout), put in the page with
Django's `json_script` and drawn by static/js/charts.js with the plotly.js served from
our own static files. Plain dicts rather than `plotly.graph_objects`: building a
validated `go.Figure` costs about 13 ms per chart, and a patient with 8 cycles has 10
charts; the tests still check every figure against Plotly's schema with `go.Figure(fig)`.

The cycle and overlay charts have day of cycle on the x axis (day 1 = the day-1 dose; a point's
date and time are in its hover text); the timeline over all cycles has dates. Every chart has a
"today" line. Things that change with the linear/log toggle (ranges, ticks, the y of annotations)
are in `layout.meta` for static/js/charts.js.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.utils import timezone

from monitoring import clinical
from monitoring.selectors import CycleData, PatientPage

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
        annotations.append({"xref": "paper", "yref": "y", "x": 1, "y": middle_linear, "xanchor": "right",
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
        return round((moment - self.day1).total_seconds() / 86400 + 1, 3)

    def x_of_iso(self, iso: str):
        return iso if self.day1 is None else self.x(timezone.make_aware(datetime.fromisoformat(iso)))

    def when(self, moment: datetime) -> str:
        """Return hover text for a moment: its date, and its whole day of cycle on a cycle chart."""
        if self.day1 is None:
            return _when(moment)
        return f"Day {_whole_day(moment, self.day1)}, {_when(moment)}"


def _whole_day(moment: datetime, day1: datetime) -> int:
    """Return the day of cycle as a whole number: day 1 runs from the day-1 dose for 24 h."""
    return math.floor((moment - day1).total_seconds() / 86400) + 1


def _count_trace(counts, axis: _Axis, name: str = "Measured ANC", baseline=()) -> dict:
    baseline = set(c.pk for c in baseline)
    counts = decimate(counts, lambda c: c.anc_1e9_per_l)
    return {
        "type": "scatter", "mode": "lines+markers+text", "name": name, "xaxis": "x", "yaxis": "y",
        "x": [axis.x(c.collected_at) for c in counts],
        "y": [max(float(c.anc_1e9_per_l), LOG_FLOOR_1E9_PER_L) for c in counts],
        "text": [f"G{c.ctcae_grade}" if c.ctcae_grade >= 3 else "" for c in counts],
        "textposition": "bottom center",
        "marker": {"size": 9, "color": [GRADE_COLOURS[c.ctcae_grade] for c in counts],
                   "symbol": [GRADE_SYMBOLS[c.ctcae_grade] for c in counts], "line": {"width": 1, "color": "#fff"}},
        "line": {"color": "#37474f", "width": 1.5},
        "hovertext": [_count_hover(c, c.pk in baseline, axis) for c in counts],
        "hoverinfo": "text",
        "meta": "counts",
    }


def _count_hover(count, pre_dose: bool, axis: _Axis) -> str:
    """Return a count's hover text, its ANC as received: a censored count reads "<0.1" (issue 21 item 9)."""
    text = ("Pre-dose count<br>" if pre_dose else "") + (
        f"ANC {count.qualifier}{count.anc_1e9_per_l.normalize():f} {ANC_UNIT}<br>{count.grade_label}"
        f"<br>{axis.when(count.collected_at)}")
    if count.platelets_1e9_per_l is not None:
        text += f"<br>Platelets {count.platelets_1e9_per_l.normalize():f} {ANC_UNIT}"
    return text + f"<br>Source: {count.get_source_display()}" + (" (computed from WBC)" if count.anc_computed else "")


def _forecast_traces(forecast, axis: _Axis, name: str = "Forecast median") -> list[dict]:
    """Return the forecast median and its 80 % band, or nothing without a usable forecast."""
    if forecast is None or forecast.error or not forecast.trajectory:
        return []
    points = forecast.trajectory
    x = [axis.x_of_iso(p["time"]) for p in points]
    band = {"type": "scatter", "mode": "lines", "xaxis": "x", "yaxis": "y", "hoverinfo": "skip",
            "line": {"width": 0, "color": FORECAST_COLOUR}}

    def moment(iso: str) -> datetime:
        return timezone.make_aware(datetime.fromisoformat(iso))

    return [
        {**band, "name": "80 % band (low)", "x": x, "y": [max(p["lo80"], LOG_FLOOR_1E9_PER_L) for p in points],
         "showlegend": False, "meta": "forecast-band"},
        {**band, "name": "Forecast 80 % band", "x": x, "y": [max(p["hi80"], LOG_FLOOR_1E9_PER_L) for p in points],
         "fill": "tonexty", "fillcolor": "rgba(31,111,178,0.15)", "meta": "forecast-band"},
        {"type": "scatter", "mode": "lines", "name": name, "xaxis": "x", "yaxis": "y", "x": x,
         "y": [max(p["anc"], LOG_FLOOR_1E9_PER_L) for p in points],
         "line": {"color": FORECAST_COLOUR, "width": 2, "dash": "dash"},
         "hovertext": [f"Forecast {p['anc']:.2f} {ANC_UNIT} (80 %: {p['lo80']:.2f} to {p['hi80']:.2f})<br>"
                       f"{axis.when(moment(p['time']))}" for p in points],
         "hoverinfo": "text", "meta": "forecast"},
    ]


def _predicted_nadir(forecast, axis: _Axis) -> tuple[list[dict], list[dict]]:
    if forecast is None or forecast.error or forecast.nadir_at is None or forecast.nadir_anc_1e9_per_l is None:
        return [], []
    x, y = axis.x(forecast.nadir_at), max(forecast.nadir_anc_1e9_per_l, LOG_FLOOR_1E9_PER_L)
    detail = (f"Predicted nadir {forecast.nadir_anc_1e9_per_l:.2f} {ANC_UNIT}"
              f" (80 %: {forecast.nadir_lo80:.2f} to {forecast.nadir_hi80:.2f})<br>{axis.when(forecast.nadir_at)}"
              f"<br>P(grade 4) {forecast.p_grade4:.0%}") if forecast.nadir_lo80 is not None else ""
    trace = {"type": "scatter", "mode": "markers", "name": "Predicted nadir", "xaxis": "x", "yaxis": "y",
             "x": [x], "y": [y], "marker": {"size": 13, "symbol": "star-triangle-down-open", "color": FORECAST_COLOUR,
                                            "line": {"width": 2}},
             "hovertext": [detail], "hoverinfo": "text", "meta": "predicted-nadir"}
    note = {"x": x, "y": y, "xref": "x", "yref": "y", "ax": 40, "ay": -30, "showarrow": True, "arrowhead": 2,
            "text": f"Predicted nadir {forecast.nadir_anc_1e9_per_l:.2f}",
            "font": {"size": 11, "color": FORECAST_COLOUR}, "bgcolor": "rgba(255,255,255,0.8)"}
    return [trace], [note]


def _observed_nadir(count, axis: _Axis, day: str = "") -> dict:
    return {"x": axis.x(count.collected_at), "y": max(float(count.anc_1e9_per_l), LOG_FLOOR_1E9_PER_L),
            "xref": "x", "yref": "y", "ax": -30, "ay": -40, "showarrow": True, "arrowhead": 2,
            "text": f"Observed nadir {count.anc_1e9_per_l.normalize():f}{day}",
            "font": {"size": 11, "color": "#37474f"}, "bgcolor": "rgba(255,255,255,0.8)"}


def _gcsf_traces(doses, axis: _Axis) -> list[dict]:
    traces = []
    for product, (label, symbol, colour) in GCSF_STYLE.items():
        given = decimate([d for d in doses if d.product == product], lambda d: d.dose)
        if not given:
            continue
        traces.append({
            "type": "scatter", "mode": "markers", "name": f"G-CSF: {label}", "xaxis": "x", "yaxis": "y3",
            "x": [axis.x(d.given_at) for d in given], "y": [label] * len(given),
            "marker": {"size": 12, "symbol": symbol, "color": colour},
            "hovertext": [f"{label} {d.dose.normalize():f} {d.dose_unit} {d.route}"
                          f"{' (' + d.product_name + ')' if d.product_name else ''}<br>{axis.when(d.given_at)}"
                          for d in given],
            "hoverinfo": "text", "meta": "gcsf",
        })
    return traces


def _chemo(administrations, axis: _Axis) -> tuple[list[dict], list[dict]]:
    if not administrations:
        return [], []
    trace = {
        "type": "scatter", "mode": "markers", "name": CHEMO_ROW, "xaxis": "x", "yaxis": "y3",
        "x": [axis.x(a.given_at) for a in administrations], "y": [CHEMO_ROW] * len(administrations),
        "marker": {"size": 12, "symbol": "line-ns-open", "color": "#263238", "line": {"width": 3}},
        "hovertext": [
            f"Chemotherapy day {a.day_of_cycle}, {a.dose_fraction:.0%} of protocol dose<br>{_when(a.given_at)}"
            for a in administrations
        ],
        "hoverinfo": "text", "meta": "chemo",
    }
    lines = [{"type": "line", "xref": "x", "yref": "paper", "x0": axis.x(a.given_at), "x1": axis.x(a.given_at),
              "y0": 0, "y1": 1, "line": {"color": "#263238", "width": 1, "dash": "dashdot"}} for a in administrations]
    return [trace], lines


def _temperature_traces(readings, fevers, axis: _Axis) -> tuple[list[dict], list[dict]]:
    if not readings:
        return [], []
    fever_times = {r.taken_at for r in fevers}
    readings = decimate(readings, lambda r: r.temperature_c)
    trace = {
        "type": "scatter", "mode": "lines+markers", "name": "Temperature", "xaxis": "x", "yaxis": "y2",
        "x": [axis.x(r.taken_at) for r in readings], "y": [float(r.temperature_c) for r in readings],
        "marker": {"size": 7, "color": ["#b71c1c" if r.is_fever else "#546e7a" for r in readings]},
        "line": {"color": "#90a4ae", "width": 1},
        "hovertext": [f"{r.temperature_c.normalize():f} °C ({r.get_site_display()}){' - fever' if r.is_fever else ''}"
                      f"<br>{axis.when(r.taken_at)}" for r in readings],
        "hoverinfo": "text", "meta": "temperature",
    }
    traces = [trace]
    if fever_times:
        fever = [r for r in readings if r.taken_at in fever_times]
        traces.append({
            "type": "scatter", "mode": "markers+text", "name": "Fever episode (IDSA 2010)", "xaxis": "x",
            "yaxis": "y2", "x": [axis.x(r.taken_at) for r in fever], "y": [float(r.temperature_c) for r in fever],
            "text": ["Fever"] * len(fever), "textposition": "top center",
            "marker": {"size": 12, "symbol": "circle-open", "color": "#b71c1c", "line": {"width": 2}},
            "hoverinfo": "skip", "meta": "fever",
        })
    threshold = float(clinical.FEVER_SUSTAINED_C)
    shapes = [{"type": "line", "xref": "paper", "yref": "y2", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold,
               "line": {"color": "#b71c1c", "width": 1, "dash": "dot"}}]
    return traces, shapes


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


def _event_rows(administrations, doses) -> list[str]:
    rows = [CHEMO_ROW] if administrations else []
    rows += [label for product, (label, _, _) in GCSF_STYLE.items() if any(d.product == product for d in doses)]
    return rows or [CHEMO_ROW]


def _figure(title, xaxis: dict, axis: _Axis, *, counts, forecast, administrations, doses, temperatures, fevers,
            threshold: float | None, observed_nadir=None, observed_day: str = "", today=None, baseline=(),
            short_title: str = "") -> dict:
    shapes, annotations = _grade_bands()
    if threshold is not None:
        line, label = _next_cycle_line(threshold)
        shapes.append(line)
        annotations.append(label)
    data = _forecast_traces(forecast, axis)
    if counts:
        data.append(_count_trace(counts, axis, baseline=baseline))
    nadir_traces, nadir_notes = _predicted_nadir(forecast, axis)
    data += nadir_traces
    annotations += nadir_notes
    if observed_nadir is not None:
        annotations.append(_observed_nadir(observed_nadir, axis, observed_day))
    chemo_traces, chemo_lines = _chemo(administrations, axis)
    data += chemo_traces + _gcsf_traces(doses, axis)
    shapes += chemo_lines
    temperature_traces, temperature_shapes = _temperature_traces(temperatures, fevers, axis)
    data += temperature_traces
    shapes += temperature_shapes
    if today is not None:
        line, note = today
        shapes.append(line)
        annotations.append(note)
    layout = _layout(title, xaxis, _event_rows(administrations, doses), bool(temperatures))
    layout["shapes"] = shapes
    layout["annotations"] = annotations
    layout["meta"] = {**_y_ranges(data), "short_title": short_title or title}
    layout["yaxis"]["range"] = layout["meta"]["linear_range"]
    return {"data": data, "layout": layout}


def cycle_figure(cycle: CycleData, now: datetime | None = None) -> dict:
    """Return the chart of one cycle by day of cycle: counts (from its pre-dose count), forecast,
    grade bands, chemo, G-CSF, temperature, and a "today" line while the cycle runs."""
    now = now or timezone.now()
    axis = _Axis(cycle.start)
    length = cycle.regimen.cycle_length_days
    end_day = length + 1
    if cycle.end is not None and cycle.end < cycle.start + timedelta(days=2 * length):
        end_day = max(end_day, axis.x(cycle.end))
    counts = cycle.charted_counts
    first_day = min([0.5] + [axis.x(c.collected_at) - 0.3 for c in counts])
    nadir = cycle.observed_nadir
    day = f" (day {_whole_day(nadir.collected_at, cycle.start)})" if nadir is not None else ""
    today = None
    if cycle.start <= now and (cycle.end is None or now < cycle.end) and axis.x(now) <= end_day:
        today = _today(axis.x(now), f"Today, day {_whole_day(now, cycle.start)}")
    title = f"Cycle {cycle.cycle.number} of {cycle.regimen.name}, day 1 {_when(cycle.start)}"
    return _figure(
        title, _day_axis(first_day, end_day + 0.5), axis, counts=counts, forecast=cycle.forecast,
        administrations=cycle.administrations, doses=cycle.gcsf, temperatures=cycle.temperatures,
        fevers=cycle.fever_episodes, threshold=float(cycle.regimen.next_cycle_anc_1e9_per_l),
        observed_nadir=nadir, observed_day=day, today=today, baseline=cycle.baseline,
        short_title=f"Cycle {cycle.cycle.number}, day 1 {timezone.localtime(cycle.start):%d %b}",
    )


def timeline_figure(page: PatientPage, now: datetime | None = None) -> dict:
    """Return one chart over all cycles (dates on the x axis), with the current cycle's forecast."""
    now = now or timezone.now()
    axis = _Axis()
    administrations = [a for c in page.cycles for a in c.administrations]
    fevers = [r for c in page.cycles for r in c.fever_episodes]
    regimen = page.current.regimen if page.current else None
    xaxis = {"type": "date", "anchor": "y3", "autorange": True, "showgrid": True, "gridcolor": "#eef2f6",
             "tickformat": "%d %b", "hoverformat": "%d %b %Y %H:%M"}
    figure = _figure(
        "All cycles", xaxis, axis, counts=page.counts, forecast=page.current.forecast if page.current else None,
        administrations=administrations, doses=page.gcsf, temperatures=page.temperatures, fevers=fevers,
        threshold=float(regimen.next_cycle_anc_1e9_per_l) if regimen else None,
        today=_today(local_iso(now), "Today"),
    )
    return figure


def overlay_figure(page: PatientPage, now: datetime | None = None) -> dict:
    """Return every cycle's counts laid over each other by day of cycle, each cycle its own colour
    and dash, the current one black and thick, each from its pre-dose count."""
    now = now or timezone.now()
    shapes, annotations = _grade_bands()
    data = []
    earlier = 0
    for cycle in (c for c in page.cycles if c.charted_counts):
        counts = [c for c in cycle.charted_counts if c.collected_at < now]
        if not counts or not (cycle.started or cycle.is_current):
            continue
        trace = _count_trace(counts, _Axis(cycle.start), name=f"Cycle {cycle.cycle.number}", baseline=cycle.baseline)
        if cycle.is_current:
            colour, dash, width = "#111111", "solid", 3
        else:
            colour, dash, width = (CYCLE_COLOURS[earlier % len(CYCLE_COLOURS)],
                                   CYCLE_DASHES[earlier % len(CYCLE_DASHES)], 2)
            earlier += 1
        trace["line"] = {"color": colour, "width": width, "dash": dash}
        trace["marker"]["color"] = colour
        trace["marker"]["line"] = {"width": 1, "color": "#fff"}
        trace["meta"] = "overlay-counts"
        data.append(trace)
    current = page.current
    length = max((c.regimen.cycle_length_days for c in page.cycles), default=21)
    if current is not None:
        axis = _Axis(current.start)
        data += _forecast_traces(current.forecast, axis, name=f"Cycle {current.cycle.number} forecast")
        if current.start <= now and axis.x(now) <= length + 1.5:
            line, note = _today(axis.x(now), f"Today, day {_whole_day(now, current.start)}")
            shapes.append(line)
            annotations.append(note)
    first_day = min([0.5] + [x - 0.3 for trace in data if trace.get("meta") == "overlay-counts" for x in trace["x"]])
    return {
        "data": data,
        "layout": {
            "title": {"text": "All cycles by day of cycle", "font": {"size": 14}, "x": 0, "xanchor": "left"},
            "height": 460,
            "margin": {"l": 56, "r": 12, "t": 56, "b": 48},
            "hovermode": "closest",
            "legend": _legend(),
            "xaxis": {**_day_axis(first_day, length + 1.5), "anchor": "y"},
            "yaxis": {"title": {"text": ANC_AXIS_TITLE}, "type": "linear", "range": _y_ranges(data)["linear_range"],
                      "zeroline": False, "gridcolor": "#eef2f6"},
            "shapes": shapes,
            "annotations": annotations,
            "meta": _y_ranges(data),
            "plot_bgcolor": "#fff",
            "paper_bgcolor": "#fff",
        },
    }

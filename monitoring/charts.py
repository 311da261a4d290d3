"""Plotly figures for the patient page, built from selector output; no ORM queries here.

Figures are plain dicts in Plotly's figure schema (data + layout), put in the page with
Django's `json_script` and drawn by static/js/charts.js with the plotly.js served from
our own static files. Plain dicts rather than `plotly.graph_objects`: building a
validated `go.Figure` costs about 13 ms per chart, and a patient with 8 cycles has 10
charts; the tests still check every figure against Plotly's schema with `go.Figure(fig)`.

Times are clinic-local ISO strings without zone, as the forecast trajectory is.
"""

from __future__ import annotations

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
    """Return shaded CTCAE grade bands and their labels (text, not only colour)."""
    bands = [
        (LOG_FLOOR_1E9_PER_L, float(clinical.GRADE4_BELOW), "rgba(183,28,28,0.10)", "Grade 4 (< 0.5)"),
        (float(clinical.GRADE4_BELOW), float(clinical.GRADE3_BELOW), "rgba(230,81,0,0.08)", "Grade 3 (0.5 to < 1.0)"),
        (float(clinical.GRADE3_BELOW), float(clinical.GRADE2_BELOW), "rgba(178,135,4,0.08)", "Grade 2 (1.0 to < 1.5)"),
    ]
    shapes, annotations = [], []
    for low, high, colour, label in bands:
        shapes.append({"type": "rect", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": low, "y1": high,
                       "fillcolor": colour, "line": {"width": 0}, "layer": "below"})
        shapes.append({"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": high, "y1": high,
                       "line": {"color": "#9aa5b1", "width": 1, "dash": "dot"}, "layer": "below"})
        annotations.append({"xref": "paper", "yref": "y", "x": 1, "y": high, "xanchor": "right", "yanchor": "top",
                            "text": label, "showarrow": False, "font": {"size": 10, "color": "#5a6573"}})
    return shapes, annotations


def _next_cycle_line(threshold: float) -> tuple[dict, dict]:
    shape = {"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold,
             "line": {"color": FORECAST_COLOUR, "width": 1.5, "dash": "dash"}}
    label = {"xref": "paper", "yref": "y", "x": 0, "y": threshold, "xanchor": "left", "yanchor": "bottom",
             "text": f"Next cycle needs ANC ≥ {threshold:g} {ANC_UNIT}", "showarrow": False,
             "font": {"size": 10, "color": FORECAST_COLOUR}}
    return shape, label


def _count_trace(counts, name: str = "Measured ANC", x_of=None) -> dict:
    x_of = x_of or (lambda c: local_iso(c.collected_at))
    counts = decimate(counts, lambda c: c.anc_1e9_per_l)
    return {
        "type": "scatter", "mode": "lines+markers+text", "name": name, "xaxis": "x", "yaxis": "y",
        "x": [x_of(c) for c in counts],
        "y": [max(float(c.anc_1e9_per_l), LOG_FLOOR_1E9_PER_L) for c in counts],
        "text": [f"G{c.ctcae_grade}" if c.ctcae_grade >= 3 else "" for c in counts],
        "textposition": "bottom center",
        "marker": {"size": 9, "color": [GRADE_COLOURS[c.ctcae_grade] for c in counts],
                   "symbol": [GRADE_SYMBOLS[c.ctcae_grade] for c in counts], "line": {"width": 1, "color": "#fff"}},
        "line": {"color": "#37474f", "width": 1.5},
        "hovertext": [
            f"ANC {c.anc_1e9_per_l.normalize():f} {ANC_UNIT}<br>{c.grade_label}<br>{_when(c.collected_at)}"
            f"<br>Source: {c.get_source_display()}" + (" (computed from WBC)" if c.anc_computed else "")
            for c in counts
        ],
        "hoverinfo": "text",
        "meta": "counts",
    }


def _forecast_traces(forecast, x_of=None, name: str = "Forecast median") -> list[dict]:
    """Return the forecast median and its 80 % band, or nothing without a usable forecast."""
    if forecast is None or forecast.error or not forecast.trajectory:
        return []
    points = forecast.trajectory
    x_of = x_of or (lambda iso: iso)
    x = [x_of(p["time"]) for p in points]
    band = {"type": "scatter", "mode": "lines", "xaxis": "x", "yaxis": "y", "hoverinfo": "skip",
            "line": {"width": 0, "color": FORECAST_COLOUR}}
    return [
        {**band, "name": "80 % band (low)", "x": x, "y": [max(p["lo80"], LOG_FLOOR_1E9_PER_L) for p in points],
         "showlegend": False, "meta": "forecast-band"},
        {**band, "name": "Forecast 80 % band", "x": x, "y": [max(p["hi80"], LOG_FLOOR_1E9_PER_L) for p in points],
         "fill": "tonexty", "fillcolor": "rgba(31,111,178,0.15)", "meta": "forecast-band"},
        {"type": "scatter", "mode": "lines", "name": name, "xaxis": "x", "yaxis": "y", "x": x,
         "y": [max(p["anc"], LOG_FLOOR_1E9_PER_L) for p in points],
         "line": {"color": FORECAST_COLOUR, "width": 2, "dash": "dash"},
         "hovertext": [f"Forecast {p['anc']:.2f} {ANC_UNIT} (80 %: {p['lo80']:.2f} to {p['hi80']:.2f})<br>"
                       f"{p['time'].replace('T', ' ')}" for p in points],
         "hoverinfo": "text", "meta": "forecast"},
    ]


def _predicted_nadir(forecast) -> tuple[list[dict], list[dict]]:
    if forecast is None or forecast.error or forecast.nadir_at is None or forecast.nadir_anc_1e9_per_l is None:
        return [], []
    x, y = local_iso(forecast.nadir_at), max(forecast.nadir_anc_1e9_per_l, LOG_FLOOR_1E9_PER_L)
    detail = (f"Predicted nadir {forecast.nadir_anc_1e9_per_l:.2f} {ANC_UNIT}"
              f" (80 %: {forecast.nadir_lo80:.2f} to {forecast.nadir_hi80:.2f})<br>{_when(forecast.nadir_at)}"
              f"<br>P(grade 4) {forecast.p_grade4:.0%}") if forecast.nadir_lo80 is not None else ""
    trace = {"type": "scatter", "mode": "markers", "name": "Predicted nadir", "xaxis": "x", "yaxis": "y",
             "x": [x], "y": [y], "marker": {"size": 13, "symbol": "star-triangle-down-open", "color": FORECAST_COLOUR,
                                            "line": {"width": 2}},
             "hovertext": [detail], "hoverinfo": "text", "meta": "predicted-nadir"}
    note = {"x": x, "y": y, "xref": "x", "yref": "y", "ax": 40, "ay": -30, "showarrow": True, "arrowhead": 2,
            "text": f"Predicted nadir {forecast.nadir_anc_1e9_per_l:.2f}",
            "font": {"size": 11, "color": FORECAST_COLOUR}}
    return [trace], [note]


def _observed_nadir(count, day: str = "") -> dict:
    return {"x": local_iso(count.collected_at), "y": max(float(count.anc_1e9_per_l), LOG_FLOOR_1E9_PER_L),
            "xref": "x", "yref": "y", "ax": -40, "ay": 30, "showarrow": True, "arrowhead": 2,
            "text": f"Observed nadir {count.anc_1e9_per_l.normalize():f}{day}",
            "font": {"size": 11, "color": "#37474f"}}


def _gcsf_traces(doses) -> list[dict]:
    traces = []
    for product, (label, symbol, colour) in GCSF_STYLE.items():
        given = decimate([d for d in doses if d.product == product], lambda d: d.dose)
        if not given:
            continue
        traces.append({
            "type": "scatter", "mode": "markers", "name": f"G-CSF: {label}", "xaxis": "x", "yaxis": "y3",
            "x": [local_iso(d.given_at) for d in given], "y": [label] * len(given),
            "marker": {"size": 12, "symbol": symbol, "color": colour},
            "hovertext": [f"{label} {d.dose.normalize():f} {d.dose_unit} {d.route}"
                          f"{' (' + d.product_name + ')' if d.product_name else ''}<br>{_when(d.given_at)}"
                          for d in given],
            "hoverinfo": "text", "meta": "gcsf",
        })
    return traces


def _chemo(administrations) -> tuple[list[dict], list[dict]]:
    if not administrations:
        return [], []
    trace = {
        "type": "scatter", "mode": "markers", "name": CHEMO_ROW, "xaxis": "x", "yaxis": "y3",
        "x": [local_iso(a.given_at) for a in administrations], "y": [CHEMO_ROW] * len(administrations),
        "marker": {"size": 12, "symbol": "line-ns-open", "color": "#263238", "line": {"width": 3}},
        "hovertext": [
            f"Chemotherapy day {a.day_of_cycle}, {a.dose_fraction:.0%} of protocol dose<br>{_when(a.given_at)}"
            for a in administrations
        ],
        "hoverinfo": "text", "meta": "chemo",
    }
    lines = [{"type": "line", "xref": "x", "yref": "paper", "x0": local_iso(a.given_at), "x1": local_iso(a.given_at),
              "y0": 0, "y1": 1, "line": {"color": "#263238", "width": 1, "dash": "dashdot"}} for a in administrations]
    return [trace], lines


def _temperature_traces(readings, fevers) -> tuple[list[dict], list[dict]]:
    if not readings:
        return [], []
    fever_times = {r.taken_at for r in fevers}
    readings = decimate(readings, lambda r: r.temperature_c)
    trace = {
        "type": "scatter", "mode": "lines+markers", "name": "Temperature", "xaxis": "x", "yaxis": "y2",
        "x": [local_iso(r.taken_at) for r in readings], "y": [float(r.temperature_c) for r in readings],
        "marker": {"size": 7, "color": ["#b71c1c" if r.is_fever else "#546e7a" for r in readings]},
        "line": {"color": "#90a4ae", "width": 1},
        "hovertext": [f"{r.temperature_c.normalize():f} °C ({r.get_site_display()}){' - fever' if r.is_fever else ''}"
                      f"<br>{_when(r.taken_at)}" for r in readings],
        "hoverinfo": "text", "meta": "temperature",
    }
    traces = [trace]
    if fever_times:
        fever = [r for r in readings if r.taken_at in fever_times]
        traces.append({
            "type": "scatter", "mode": "markers+text", "name": "Fever episode (IDSA 2010)", "xaxis": "x",
            "yaxis": "y2", "x": [local_iso(r.taken_at) for r in fever], "y": [float(r.temperature_c) for r in fever],
            "text": ["Fever"] * len(fever), "textposition": "top center",
            "marker": {"size": 12, "symbol": "circle-open", "color": "#b71c1c", "line": {"width": 2}},
            "hoverinfo": "skip", "meta": "fever",
        })
    threshold = float(clinical.FEVER_SUSTAINED_C)
    shapes = [{"type": "line", "xref": "paper", "yref": "y2", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold,
               "line": {"color": "#b71c1c", "width": 1, "dash": "dot"}}]
    return traces, shapes


def _layout(title: str, x_range: list[str] | None, event_rows: list[str], has_temperature: bool) -> dict:
    anc_domain = ANC_DOMAIN if has_temperature else [TEMPERATURE_DOMAIN[0], 1]
    return {
        "title": {"text": title, "font": {"size": 15}, "x": 0, "xanchor": "left"},
        "height": 520,
        "margin": {"l": 64, "r": 16, "t": 72, "b": 40},
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": 11}},
        "xaxis": {"type": "date", "anchor": "y3", "range": x_range, "autorange": x_range is None,
                  "showgrid": True, "gridcolor": "#eef2f6", "tickformat": "%d %b\n%H:%M"},
        "yaxis": {"title": {"text": ANC_AXIS_TITLE}, "domain": anc_domain, "type": "linear", "rangemode": "tozero",
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


def _figure(title, x_range, *, counts, forecast, administrations, doses, temperatures, fevers,
            threshold: float | None, observed_nadir=None, observed_day: str = "") -> dict:
    shapes, annotations = _grade_bands()
    if threshold is not None:
        line, label = _next_cycle_line(threshold)
        shapes.append(line)
        annotations.append(label)
    data = _forecast_traces(forecast)
    if counts:
        data.append(_count_trace(counts))
    nadir_traces, nadir_notes = _predicted_nadir(forecast)
    data += nadir_traces
    annotations += nadir_notes
    if observed_nadir is not None:
        annotations.append(_observed_nadir(observed_nadir, observed_day))
    chemo_traces, chemo_lines = _chemo(administrations)
    data += chemo_traces + _gcsf_traces(doses)
    shapes += chemo_lines
    temperature_traces, temperature_shapes = _temperature_traces(temperatures, fevers)
    data += temperature_traces
    shapes += temperature_shapes
    layout = _layout(title, x_range, _event_rows(administrations, doses), bool(temperatures))
    layout["shapes"] = shapes
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}


def cycle_figure(cycle: CycleData) -> dict:
    """Return the chart of one cycle: counts, forecast, grade bands, chemo, G-CSF, temperature."""
    length = timedelta(days=cycle.regimen.cycle_length_days)
    end = cycle.end if cycle.end is not None and cycle.end < cycle.start + 2 * length else cycle.start + length
    x_range = [local_iso(cycle.start - timedelta(hours=12)), local_iso(end + timedelta(hours=12))]
    nadir = cycle.observed_nadir
    day = f" (day {cycle.cycle.cycle_day(nadir.collected_at):.1f})" if nadir is not None else ""
    title = f"Cycle {cycle.cycle.number} of {cycle.regimen.name}, day 1 {_when(cycle.start)}"
    return _figure(
        title, x_range, counts=cycle.counts, forecast=cycle.forecast, administrations=cycle.administrations,
        doses=cycle.gcsf, temperatures=cycle.temperatures, fevers=cycle.fever_episodes,
        threshold=float(cycle.regimen.next_cycle_anc_1e9_per_l), observed_nadir=nadir, observed_day=day,
    )


def timeline_figure(page: PatientPage) -> dict:
    """Return one chart over all cycles, with the current cycle's forecast."""
    administrations = [a for c in page.cycles for a in c.administrations]
    fevers = [r for c in page.cycles for r in c.fever_episodes]
    regimen = page.current.regimen if page.current else None
    figure = _figure(
        "All cycles", None, counts=page.counts, forecast=page.current.forecast if page.current else None,
        administrations=administrations, doses=page.gcsf, temperatures=page.temperatures, fevers=fevers,
        threshold=float(regimen.next_cycle_anc_1e9_per_l) if regimen else None,
    )
    figure["layout"]["xaxis"]["rangeslider"] = {"visible": False}
    return figure


def overlay_figure(page: PatientPage) -> dict:
    """Return every cycle's counts laid over each other by day of cycle."""
    shapes, annotations = _grade_bands()
    data = []
    palette = ["#90a4ae", "#78909c", "#8d6e63", "#7e57c2", "#26a69a", "#ef6c00", "#5c6bc0", "#9e9d24"]
    for index, cycle in enumerate(c for c in page.cycles if c.counts):
        after_dose = [c for c in cycle.counts if c.collected_at >= cycle.start]
        if not after_dose:
            continue
        trace = _count_trace(after_dose, name=f"Cycle {cycle.cycle.number}",
                             x_of=lambda c, cycle=cycle: float(cycle.cycle.cycle_day(c.collected_at)))
        trace["line"] = {"color": "#263238" if cycle.is_current else palette[index % len(palette)],
                         "width": 3 if cycle.is_current else 1.5}
        trace["meta"] = "overlay-counts"
        data.append(trace)
    current = page.current
    if current is not None and current.forecast is not None:
        start = current.start

        def day_of(iso: str) -> float:
            moment = timezone.make_aware(datetime.fromisoformat(iso))
            return round((moment - start).total_seconds() / 86400 + 1, 2)

        data += _forecast_traces(current.forecast, x_of=day_of, name=f"Cycle {current.cycle.number} forecast")
    length = max((c.regimen.cycle_length_days for c in page.cycles), default=21)
    return {
        "data": data,
        "layout": {
            "title": {"text": "All cycles by day of cycle", "font": {"size": 15}, "x": 0, "xanchor": "left"},
            "height": 420,
            "margin": {"l": 64, "r": 16, "t": 72, "b": 48},
            "hovermode": "closest",
            "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": 11}},
            "xaxis": {"title": {"text": "Day of cycle (day 1 = chemotherapy)"}, "range": [0.5, length + 1.5],
                      "dtick": 7, "gridcolor": "#eef2f6"},
            "yaxis": {"title": {"text": ANC_AXIS_TITLE}, "type": "linear", "rangemode": "tozero",
                      "zeroline": False, "gridcolor": "#eef2f6"},
            "shapes": shapes,
            "annotations": annotations,
            "plot_bgcolor": "#fff",
            "paper_bgcolor": "#fff",
        },
    }

"""The traces of a chart: counts, forecast median and band, nadirs, chemotherapy, G-CSF, temperature."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from monitoring import clinical
from monitoring.charts.common import (
    ANC_UNIT,
    CHEMO_ROW,
    FORECAST_COLOUR,
    GCSF_STYLE,
    GRADE_COLOURS,
    GRADE_SYMBOLS,
    LOG_FLOOR_1E9_PER_L,
    _Axis,
    _when,
    decimate,
    plain,
)


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
         "hovertext": [f"Forecast {_anc(p['anc'])} {ANC_UNIT} (80 %: {_anc(p['lo80'])} to {_anc(p['hi80'])})<br>"
                       f"{axis.when(moment(p['time']))}" for p in points],
         "hoverinfo": "text", "meta": "forecast"},
    ]


def _anc(value: float) -> str:
    """Return a forecast ANC as the header prints it (`|anc`): 0.499, never "0.50" across a grade boundary."""
    return clinical.number_text(value)


def _predicted_nadir(forecast, axis: _Axis) -> tuple[list[dict], list[dict]]:
    if forecast is None or forecast.error or forecast.nadir_at is None or forecast.nadir_anc_1e9_per_l is None:
        return [], []
    x, y = axis.x(forecast.nadir_at), max(forecast.nadir_anc_1e9_per_l, LOG_FLOOR_1E9_PER_L)
    nadir = _anc(forecast.nadir_anc_1e9_per_l)  # the header's number
    detail = (f"Predicted nadir {nadir} {ANC_UNIT} (80 %: {_anc(forecast.nadir_lo80)} to "
              f"{_anc(forecast.nadir_hi80)})<br>{axis.when(forecast.nadir_at)}"
              f"<br>P(grade 4) {forecast.p_grade4:.0%}") if forecast.nadir_lo80 is not None else ""
    trace = {"type": "scatter", "mode": "markers", "name": "Predicted nadir", "xaxis": "x", "yaxis": "y",
             "x": [x], "y": [y], "marker": {"size": 13, "symbol": "star-triangle-down-open", "color": FORECAST_COLOUR,
                                            "line": {"width": 2}},
             "hovertext": [detail], "hoverinfo": "text", "meta": "predicted-nadir"}
    note = {"x": x, "y": y, "xref": "x", "yref": "y", "ax": 40, "ay": -30, "showarrow": True, "arrowhead": 2,
            "text": f"Predicted nadir {nadir}",
            "font": {"size": 11, "color": FORECAST_COLOUR}, "bgcolor": "rgba(255,255,255,0.8)"}
    return [trace], [note]


def _observed_nadir(count, axis: _Axis, day: str = "") -> dict:
    return {"x": axis.x(count.collected_at), "y": max(float(count.anc_1e9_per_l), LOG_FLOOR_1E9_PER_L),
            "xref": "x", "yref": "y", "ax": -30, "ay": -40, "showarrow": True, "arrowhead": 2,
            "text": f"Observed nadir {count.qualifier}{count.anc_1e9_per_l.normalize():f}{day}",
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
                          f"{' (' + plain(d.product_name) + ')' if d.product_name else ''}<br>{axis.when(d.given_at)}"
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


def _event_rows(administrations, doses) -> list[str]:
    rows = [CHEMO_ROW] if administrations else []
    rows += [label for product, (label, _, _) in GCSF_STYLE.items() if any(d.product == product for d in doses)]
    return rows or [CHEMO_ROW]


def _count_hover(count, pre_dose: bool, axis) -> str:
    """Return a count's hover text, its ANC as received: a censored count reads "<0.1" (issue 21 item 9)."""
    text = ("Pre-dose count<br>" if pre_dose else "") + (
        f"ANC {count.qualifier}{count.anc_1e9_per_l.normalize():f} {ANC_UNIT}<br>{count.grade_label}"
        f"<br>{axis.when(count.collected_at)}")
    if count.platelets_1e9_per_l is not None:
        text += f"<br>Platelets {count.platelets_1e9_per_l.normalize():f} {ANC_UNIT}"
    return text + f"<br>Source: {count.get_source_display()}" + (" (computed from WBC)" if count.anc_computed else "")

"""The patient page's figures: one per cycle by day of cycle, the timeline, and the cycles overlaid.

The cycle and overlay charts have day of cycle on the x axis (day 1 = the day-1 dose; a point's
date and time are in its hover text); the timeline over all cycles has dates. Every chart has a
"today" line. Things that change with the linear/log toggle (ranges, ticks, the y of annotations)
are in `layout.meta` for static/js/charts.js.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from monitoring.charts.common import (
    ANC_AXIS_TITLE,
    CYCLE_COLOURS,
    CYCLE_DASHES,
    _Axis,
    _day_axis,
    _grade_bands,
    _layout,
    _legend,
    _next_cycle_line,
    _today,
    _when,
    _whole_day,
    _y_ranges,
    local_iso,
    plain,
)
from monitoring.charts.traces import (
    _chemo,
    _count_trace,
    _event_rows,
    _forecast_traces,
    _gcsf_traces,
    _observed_nadir,
    _predicted_nadir,
    _temperature_traces,
)
from monitoring.selectors import CycleData, PatientPage


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
    after_dose = [c for c in cycle.counts if c.collected_at >= cycle.start]
    if nadir is not None and after_dose and nadir.pk in (after_dose[0].pk, after_dose[-1].pk):
        nadir = None  # a trough has counts on both sides: the first may be the highest, the latest may still fall
    day = f" (day {_whole_day(nadir.collected_at, cycle.start)})" if nadir is not None else ""
    today = None
    if cycle.start <= now and (cycle.end is None or now < cycle.end) and axis.x(now) <= end_day:
        today = _today(axis.x(now), f"Today, day {_whole_day(now, cycle.start)}")
    title = f"Cycle {cycle.cycle.number} of {plain(cycle.regimen.name)}, day 1 {_when(cycle.start)}"
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
        trace["mode"] = "lines+markers"  # cycles' "G4"s on one day would pile up; the symbols say the grade
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

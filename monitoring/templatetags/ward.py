"""{% ward_rows lines %}: the ward table's rows, one string per patient.

Why not a template: the ward is the page twenty nurses keep open while results arrive, 300-500
rows of about twenty values each. Through the template engine each value is one node resolved and
escaped in turn (about 8,000 per page, a third of the request's time); here a row is one f-string
whose values are escaped once. The text of every cell is made beforehand (selectors.ward_lines);
this module only places it. The markup is the one `_ward_rows.html` had (tests read it: `risk-row`,
`data-patient`, `data-label`, `.c-anc` ... `button.ack-one`).

The rows come in blocks of BLOCK_ROWS, one `<tbody class="ward-block">` each, so that the browser can
skip laying out and painting a block while it is off-screen (`content-visibility: auto` in
neutrowatch.css: it applies to a block, never to a table's rows). Every row is still in the page, in
the accessibility tree and found by the browser's search; only the drawing waits until it is scrolled
near. Laying out all 301 rows of the bench ward was most of Chromium's time (docs/benchmarks.md).
"""

from __future__ import annotations

from functools import lru_cache
from html import escape

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

ACK_FORM = "ward-ack"  # the id of the form in _ward_rows.html that every row's Acknowledge button submits
# Rows per block: the first block fills a 1366 x 768 first screen and more (about 78 px a row); a
# smaller block is less to draw when it scrolls into view, a larger one fewer boxes to keep.
BLOCK_ROWS = 20

STALE_WORDS = ('<div class="forecast-freshness" data-state="stale"><span class="stale" title="Results came in after '
               'this forecast was made; it is being recomputed">Out of date</span> <span class="small muted">'
               'forecast updating…</span></div>')
PENDING_WORDS = ('<div class="forecast-freshness" data-state="pending"><span class="stale" title="The first forecast '
                 'of this cycle has not been computed yet">Pending</span> <span class="small muted">forecast '
                 'updating…</span></div>')
FRESHNESS = {"stale": STALE_WORDS, "pending": PENDING_WORDS}


@register.simple_tag(takes_context=True)
def ward_rows(context, lines) -> SafeString:
    """Return the `<tr>` of each ward line (selectors.ward_lines), most urgent first, in `<tbody>` blocks.

    Rows drawn already, one `ward_row` each (views/ward_cache.py, perhaps in another process), come
    as an object with their markup in `rows`: they are placed as they are, in blocks like the others.
    """
    # Each row's Acknowledge button submits the one form above the table (ACK_FORM: its CSRF token and
    # the way back) to its own alert: three elements and a token fewer per row than a form each.
    drawn = getattr(lines, "rows", None)
    rows = drawn if drawn is not None else [_row(line) for line in lines]
    return mark_safe("".join([f'<tbody class="ward-block">\n{"".join(rows[start:start + BLOCK_ROWS])}</tbody>\n'
                              for start in range(0, len(rows), BLOCK_ROWS)]))


@register.simple_tag
def ward_row(line: dict) -> SafeString:
    """Return one ward line's `<tr>` (views/ward_cache.py draws the rows one by one to share them)."""
    return mark_safe(_row(line))


def _row(line: dict) -> str:
    url = escape(line["url"])
    return (
        f'<tr class="risk-row risk-{line["risk"]}{" row-fn" if line["fn"] else ""}" data-patient="{line["pk"]}">\n'
        f'<td class="c-patient" data-label="Patient"><a class="patient-link" href="{url}">{escape(line["name"])}</a>'
        f'<div class="small muted mrn">MRN {escape(line["mrn"])} · {escape(line["team"])}</div></td>\n'
        f'<td class="c-anc" data-label="Last ANC (×10⁹/L)">{_anc(line)}</td>\n'
        f'<td class="c-alert" data-label="Most urgent">{_alert(line, url)}</td>\n'
        f'<td class="c-risk" data-label="Risk"><span class="risk risk-{line["risk"]}">{line["risk_label"]}</span>'
        f'{_div("small muted", line["reasons"])}</td>\n'
        f'<td class="c-regimen" data-label="Regimen · cycle">{_regimen(line)}</td>\n'
        f'<td class="c-nadir" data-label="Predicted nadir (×10⁹/L)">{_nadir(line)}\n'
        f'{FRESHNESS.get(line["state"], "")}</td>\n'
        f'<td class="c-next" data-label="Next cycle">{_next(line)}</td>\n</tr>\n'
    )


def _div(css: str, text: str) -> str:
    return f'<div class="{css}">{escape(text)}</div>' if text else ""


def _anc(line: dict) -> str:
    if not line["count"]:
        return '<span class="muted">No counts</span>'
    trend = line["trend"]
    arrow = (f' <span class="trend trend-{trend}" title="{escape(line["trend_title"])}"><span aria-hidden="true">'
             f'{line["arrow"]}</span><span class="visually-hidden">{trend} from {escape(line["previous"])}</span>'
             f'</span>') if trend else ""
    return (f'<strong>{escape(line["anc"])}</strong>{arrow}\n<span class="grade grade-{line["grade"]}">'
            f'{escape(line["grade_label"])}</span><div class="small muted">{escape(line["since"])}</div>')


def _alert(line: dict, url: str) -> str:
    alert = line["alert"]
    if alert is None:
        return '<span class="muted">No open alert</span>'
    fn = alert["text"]["rank"] == 0
    icon = _fn_icon() if fn else f'<span class="icon" aria-hidden="true">{escape(alert["text"]["icon"])}</span>'
    more = f' <span class="small muted">+{alert["more"]} more</span>' if alert["more"] > 0 else ""
    anchor = f'{url}#alert-{alert["pk"]}'
    head = (f'<p class="headline"><span class="sev sev-{alert["severity"]}{" sev-fn" if fn else ""}">{icon} '
            f'{escape(alert["severity_label"])}</span>\n<strong>{escape(alert["headline"])}</strong>{more}</p>\n')
    if alert["acknowledged"]:
        record = f' <a href="{anchor}">[record]</a>' if alert["antibiotics_missing"] else ""
        return (f'{head}<p class="small in-hand" data-in-hand="{alert["pk"]}"><span class="in-hand-badge">In hand'
                f'</span> {escape(alert["in_hand_words"])}{record}</p>\n')
    record = f' <a class="small" href="{anchor}">Record antibiotic time</a>' if alert["record_antibiotics"] else ""
    if alert["antibiotics_words"]:  # a worse alert: given on the one it replaced
        record = f'<p class="small in-hand">Already given: {escape(alert["antibiotics_words"])}</p>'
    label = escape(f"Acknowledge {alert['kind_label']} for {line['family_name']}")
    return (f'{head}<button type="submit" form="{ACK_FORM}" formaction="{escape(alert["ack_url"])}" '
            f'class="small-button ack-one" aria-label="{label}">Acknowledge</button>{record}')


def _regimen(line: dict) -> str:
    if not line["regimen"]:
        return '<span class="muted">No active regimen</span>'
    return f'{escape(line["regimen"])}<div class="small">{escape(line["cycle"])}</div>'


def _nadir(line: dict) -> str:
    if not line["nadir"]:
        return '<span class="muted">No forecast</span>'
    fbc = _div("small next-fbc nowrap", line["next_fbc"])
    return (f'{escape(line["nadir"])}<div class="small">{escape(line["nadir_day"])}</div>'
            f'<div class="small nowrap">P(grade 4) {escape(line["p_grade4"])}</div>{fbc}')


def _next(line: dict) -> str:
    if not line["ready"]:
        return '<span class="muted">–</span>'
    return (f'<span class="{"concern" if line["concern"] else "muted"}">{escape(line["ready"])}</span>'
            f'<div class="small muted">{escape(line["next_day1"])}, <span class="nowrap">ANC ≥ '
            f'{escape(line["threshold"])}</span></div>')


@lru_cache(maxsize=1)
def _fn_icon() -> str:
    """Return the febrile-neutropenia icon as `_alert_icon.html` draws it (one source for the SVG)."""
    return render_to_string("monitoring/_alert_icon.html", {"alert": {"text": {"rank": 0}}}).strip()

"""The ward's cells in words: what each row prints, made once in Python (selectors.ward_lines).

`WardWords` holds the numbers and dates of a row as the `plain`, `anc`, `day`, `percent` and
`number` filters and the `readiness` tag would print them; `ward_lines` turns each row into the
flat dict of text that templatetags/ward.py places in the markup. The rows themselves (which
patients, in which order, at which risk) are selectors/ward.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language

from monitoring import clinical, wording
from monitoring.alerts.presentation import antibiotics_words, headline, in_hand_words, kind_text

if TYPE_CHECKING:
    from monitoring.models import Alert
    from monitoring.selectors.ward import WardRow

TREND_ARROWS = {"rising": "↑", "falling": "↓", "steady": "→"}


@dataclass(slots=True)
class WardWords:
    """The ward row's numbers and dates as text: what the `plain`, `anc`, `day`, `percent` and
    `number` filters and the `readiness` tag would print, made in Python instead of per template node."""

    name: str = ""
    trend_arrow: str = ""
    previous_anc: str = ""
    trend_title: str = ""
    cycle_text: str = ""
    nadir_anc: str = ""
    nadir_day: str = ""
    p_grade4: str = ""
    next_fbc: str = ""
    readiness: str = ""
    readiness_concern: bool = False
    next_day1: str = ""
    ready_threshold: str = ""
    reasons: str = ""

    @classmethod
    def of(cls, row: WardRow) -> WardWords:
        words = cls(name=f"{row.patient.family_name}, {row.patient.given_name}", reasons="; ".join(row.reasons))
        if row.trend:
            words.trend_arrow = TREND_ARROWS[row.trend]
            words.previous_anc = row.previous_count.anc_plain
            words.trend_title = f"{row.trend.capitalize()} since the count before ({words.previous_anc})"
        if row.cycle is not None:
            words.cycle_text = (f"Cycle {row.cycle.number}, day {row.cycle_day}" if row.cycle_day >= 1
                                else f"Cycle {row.cycle.number}, starts {_day(row.cycle.day1, 'd M')}")
        forecast = row.forecast
        if forecast is not None and forecast.nadir_anc_1e9_per_l is not None:
            words.nadir_anc = clinical.number_text(forecast.nadir_anc_1e9_per_l, 2)
            nadir_day = row.predicted_nadir_day
            words.nadir_day = _day(forecast.nadir_at, "D d M") + (f" (day {nadir_day})" if nadir_day else "")
            words.p_grade4 = _percent(forecast.p_grade4)
            if forecast.next_fbc_on:
                words.next_fbc = wording.next_fbc(_day(forecast.next_fbc_on, "D j M"),
                                                  forecast.next_fbc_on < timezone.localdate())
        ready = wording.readiness(forecast.p_ready, row.after_fn) if forecast is not None and \
            forecast.p_ready is not None else None
        if ready is not None:
            words.readiness, words.readiness_concern = ready.words, ready.concern
            words.next_day1 = _day(forecast.next_day1, "D d M")
            threshold = forecast.ready_threshold_1e9_per_l
            words.ready_threshold = "" if threshold is None else f"{float(threshold):g}"
        return words


def _percent(value) -> str:
    """Return a probability as a whole percentage with a no-break space: 0.712 -> "71\u00a0%"."""
    return "" if value is None else wording.percent(value)


def _day(moment: datetime | date | None, day_format: str) -> str:
    """Return a day as `|date:day_format` prints it in the clinic's time zone ("Fri 27 Nov")."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        moment = timezone.localtime(moment).date()
    return _day_text(moment, day_format, get_language())


@lru_cache(maxsize=1024)
def _day_text(day: date, day_format: str, language: str | None) -> str:
    return date_format(day, day_format)


def ward_lines(rows: list[WardRow], now: datetime) -> list[dict]:
    """Return each row as the flat dict of text the ward template prints (a dict: the template
    engine's cheapest lookup), its most urgent alert told in words (alerts/presentation.py)."""
    return [_line(row, now) for row in rows]


def _line(row: WardRow, now: datetime) -> dict:
    words, patient, count = row.words, row.patient, row.last_count
    line = {
        "pk": patient.pk, "url": patient.get_absolute_url(), "name": words.name, "family_name": patient.family_name,
        "mrn": patient.mrn,
        "team": patient.team_name, "risk": row.risk, "risk_label": row.risk.capitalize(), "fn": row.has_fn_alert,
        "reasons": words.reasons, "count": count is not None, "regimen": row.regimen.name if row.regimen else "",
        "cycle": words.cycle_text, "nadir": words.nadir_anc, "state": row.forecast_state,
        "ready": words.readiness, "alert": None,
    }
    if count is not None:
        line.update(anc=f"{count.qualifier}{count.anc_plain}", grade=count.ctcae_grade, grade_label=count.grade_label,
                    since=row.since_count, trend=row.trend, arrow=words.trend_arrow, trend_title=words.trend_title,
                    previous=words.previous_anc)
    if words.nadir_anc:
        line.update(nadir_day=words.nadir_day, p_grade4=words.p_grade4, next_fbc=words.next_fbc)
    if words.readiness:
        line.update(concern=words.readiness_concern, next_day1=words.next_day1, threshold=words.ready_threshold)
    if row.top_alert is not None:
        line["alert"] = _alert_words(row.top_alert, row, now)
    return line


def _alert_words(alert: Alert, row: WardRow, now: datetime) -> dict:
    text = kind_text(alert.kind, alert.title)
    return {
        "pk": alert.pk, "severity": alert.severity, "severity_label": alert.get_severity_display(),
        "text": {"rank": text.rank, "icon": text.icon}, "headline": headline(alert, now),
        "more": row.open_alerts + row.in_hand - 1, "acknowledged": alert.acknowledged_at is not None,
        "in_hand_words": in_hand_words(alert, now), "record_antibiotics": text.asks_antibiotics,
        "antibiotics_missing": text.asks_antibiotics and not alert.antibiotics_given_at,
        "antibiotics_words": antibiotics_words(alert, now),
        "kind_label": alert.title, "ack_url": reverse("alert_acknowledge", args=[alert.pk]),
    }

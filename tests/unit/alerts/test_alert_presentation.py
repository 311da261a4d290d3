"""Alerts in a nurse's words: evidence with units and clinic times, headlines, next steps per kind."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from monitoring.alerts import presentation as words

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=LONDON)


def alert(kind: str, evidence: dict, severity: int = 4, label: str = "", raised_at: datetime = NOW):
    return SimpleNamespace(kind=kind, evidence=evidence, severity=severity, raised_at=raised_at,
                           get_kind_display=lambda: label or kind)


def test_count_evidence_reads_as_a_handover_line_without_internal_ids():
    lines = words.evidence_lines({"count_id": 10, "anc_1e9_per_l": "0.3", "ctcae_grade": 4,
                                  "collected_at": "2026-11-21T14:11:00+00:00"}, NOW)
    assert lines == ["ANC 0.30 x10^9/L at 14:11 today, grade 4"]


def test_utc_timestamps_are_shown_in_clinic_time():
    summer = datetime(2026, 7, 2, 12, 0, tzinfo=LONDON)
    lines = words.evidence_lines({"temperature_c": "38.6", "taken_at": "2026-07-01T22:30:00+00:00"}, summer)
    assert lines == ["Temperature 38.6 °C at 23:30 yesterday"]


def test_forecast_evidence_in_words():
    lines = words.evidence_lines({"p_grade4": 0.712, "threshold": 0.5, "nadir_anc_1e9_per_l": 0.31,
                                  "nadir_interval80": [0.12, 0.6], "nadir_at": "2026-11-24T09:00:00+00:00"}, NOW)
    assert lines == ["P(grade 4) 71 % (alert from 50 %)",
                     "Predicted nadir 0.31 x10^9/L (80 %: 0.12 to 0.60) around Tue 24 Nov"]


def test_unknown_evidence_keys_still_show_with_units_and_times():
    lines = words.evidence_lines({"glucose_1e9_per_l": 1.25, "checked_at": "2026-11-20T08:00:00+00:00"}, NOW)
    assert lines == ["Glucose (x10^9/L): 1.25", "Checked at: 08:00 yesterday"]


def test_headlines_name_the_alert_and_what_to_do():
    fn = alert("febrile_neutropenia", {"temperature_c": "38.6"})
    assert words.headline(fn, NOW) == "Febrile neutropenia suspected - start FN pathway"
    predicted = alert("grade4_predicted", {"nadir_at": "2026-11-24T09:00:00+00:00"}, severity=3)
    assert words.headline(predicted, NOW) == "Grade 4 predicted Tue 24 Nov - plan FBC"


def test_a_new_kind_renders_with_default_words():
    new = alert("fever_recheck", {}, severity=3, label="Fever re-check due")
    assert words.headline(new, NOW) == "Fever re-check due - see alert"
    text = words.kind_text("fever_recheck")
    assert text.next_step and text.placeholder and not text.asks_antibiotics


def test_febrile_neutropenia_sorts_first_whatever_its_severity():
    older_critical = alert("grade4_observed", {}, severity=4, raised_at=NOW - timedelta(hours=5))
    fn = alert("febrile_neutropenia", {}, severity=3)
    medium = alert("not_ready", {}, severity=2)
    assert sorted([medium, older_critical, fn], key=words.alert_order) == [fn, older_critical, medium]


def test_fn_placeholder_and_next_step_fit_the_kind():
    text = words.kind_text("febrile_neutropenia")
    assert "antibiotics within 60 minutes" in text.next_step and text.asks_antibiotics
    assert "no fever" not in text.placeholder.lower()


def test_time_since_is_in_minutes_then_hours_under_two_days():
    assert words.since(NOW - timedelta(minutes=50), NOW) == "50 min ago"
    assert words.since(NOW - timedelta(hours=30), NOW) == "30 h ago"
    assert words.since(NOW - timedelta(days=3, hours=2), NOW) == "3 days ago"

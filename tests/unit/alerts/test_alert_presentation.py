"""Alerts in a nurse's words: evidence with units and clinic times, headlines, next steps per kind."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from monitoring import clinical
from monitoring.alerts import evidence, presentation, rules, words

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=LONDON)


def alert(kind: str, evidence: dict, severity: int = 4, label: str = "", raised_at: datetime = NOW):
    return SimpleNamespace(kind=kind, evidence=evidence, severity=severity, raised_at=raised_at,
                           title=label or kind, get_kind_display=lambda: label or kind)


def test_count_evidence_reads_as_a_handover_line_without_internal_ids():
    lines = evidence.evidence_lines({"count_id": 10, "anc_1e9_per_l": "0.3", "ctcae_grade": 4,
                                  "collected_at": "2026-11-21T14:11:00+00:00"}, NOW)
    assert lines == ["ANC 0.30 ×10⁹/L at 14:11 today, grade 4"]


def test_a_count_reads_with_the_places_the_lab_gave_as_on_the_ward():
    """The ward showed 0.325 and the alert "ANC 0.33": one count read as two."""
    grade4 = alert("grade4_observed", {"anc_1e9_per_l": "0.325", "latest_anc_1e9_per_l": "0.4"})
    assert "(ANC 0.325, latest 0.40)" in presentation.headline(grade4, NOW)
    assert evidence.evidence_lines({"anc_1e9_per_l": "0.325"}, NOW) == ["ANC 0.325 ×10⁹/L, grade 4"]
    assert evidence.evidence_lines({"anc_1e9_per_l": "0.300"}, NOW) == ["ANC 0.30 ×10⁹/L, grade 4"]
    # A forecast is still rounded: it is not a value anyone measured.
    assert evidence.evidence_lines({"p_grade4": 0.9, "nadir_anc_1e9_per_l": 0.3251}, NOW)[1] == (
        "Predicted nadir 0.33 ×10⁹/L")


def test_utc_timestamps_are_shown_in_clinic_time():
    summer = datetime(2026, 7, 2, 12, 0, tzinfo=LONDON)
    lines = evidence.evidence_lines({"temperature_c": "38.6", "taken_at": "2026-07-01T22:30:00+00:00"}, summer)
    assert lines == ["Temperature 38.6 °C at 23:30 yesterday"]


def test_forecast_evidence_in_words():
    lines = evidence.evidence_lines({"p_grade4": 0.712, "threshold": 0.5, "nadir_anc_1e9_per_l": 0.31,
                                  "nadir_interval80": [0.12, 0.6], "nadir_at": "2026-11-24T09:00:00+00:00"}, NOW)
    assert lines == ["P(grade 4) 71 % (alert from 50 %)",
                     "Predicted nadir 0.31 ×10⁹/L (80 %: 0.12 to 0.60) around Tue 24 Nov"]


def test_a_forecast_moment_already_past_is_not_read_as_still_to_come():
    """An FN alert kept after a later count read "forecast to fall to 0.25 by 09:00 today" at 15:00."""
    low = {"predicted_lo80_1e9_per_l": 0.25}
    ahead = evidence.evidence_lines({**low, "predicted_at": "2026-11-22T09:00:00+00:00"}, NOW)
    assert ahead == ["ANC forecast to fall to 0.25 ×10⁹/L (lower 80 % bound) by 09:00 tomorrow"]
    past = evidence.evidence_lines({**low, "predicted_at": "2026-11-21T09:00:00+00:00"}, NOW)
    assert past == ["ANC forecast 0.25 ×10⁹/L (lower 80 % bound) at 09:00 today"]


def test_unknown_evidence_keys_still_show_with_units_and_times():
    lines = evidence.evidence_lines({"glucose_1e9_per_l": 1.25, "checked_at": "2026-11-20T08:00:00+00:00"}, NOW)
    assert lines == ["Glucose (×10⁹/L): 1.25", "Checked at: 08:00 yesterday"]


def test_headlines_name_the_alert_and_what_to_do():
    fn = alert("febrile_neutropenia", {"temperature_c": "38.6"})
    assert presentation.headline(fn, NOW) == "Febrile neutropenia suspected - start FN pathway"
    predicted = alert("grade4_predicted", {"nadir_at": "2026-11-24T09:00:00+00:00"}, severity=3)
    assert presentation.headline(predicted, NOW) == "Grade 4 predicted Tue 24 Nov - plan FBC"


def test_a_new_kind_renders_with_default_words():
    new = alert("fever_recheck", {}, severity=3, label="Fever re-check due")
    assert presentation.headline(new, NOW) == "Fever re-check due - see alert"
    text = presentation.kind_text("fever_recheck")
    assert text.next_step and text.placeholder and not text.asks_antibiotics


def test_febrile_neutropenia_sorts_first_whatever_its_severity():
    older_critical = alert("grade4_observed", {}, severity=4, raised_at=NOW - timedelta(hours=5))
    fn = alert("febrile_neutropenia", {}, severity=3)
    medium = alert("not_ready", {}, severity=2)
    assert sorted([medium, older_critical, fn], key=presentation.alert_order) == [fn, older_critical, medium]


def test_fn_placeholder_and_next_step_fit_the_kind():
    text = presentation.kind_text("febrile_neutropenia")
    assert "antibiotics within 60 minutes" in text.next_step and text.asks_antibiotics
    assert "no fever" not in text.placeholder.lower()


def test_time_since_is_in_minutes_then_hours_under_two_days():
    assert words.since(NOW - timedelta(minutes=50), NOW) == "50 min ago"
    assert words.since(NOW - timedelta(hours=30), NOW) == "30 h ago"
    assert words.since(NOW - timedelta(days=3, hours=2), NOW) == "3 days ago"


def test_no_internal_ids_booleans_or_settings_in_evidence():
    gcsf = evidence.evidence_lines({"fn_risk": "intermediate", "risk_factors": ["age 65 or over"],
                                 "due_by": "2026-11-21T09:00:00+00:00", "secondary": False}, NOW)
    assert gcsf == ["FN risk of the regimen: Intermediate (10-20 %); patient risk factors: age 65 or over; "
                    "G-CSF expected by 09:00 today"]
    secondary = evidence.evidence_lines({"fn_risk": "low", "risk_factors": [], "secondary": True}, NOW)
    assert secondary == ["FN risk of the regimen: Low (< 10 %); patient risk factors: "
                         "febrile neutropenia in an earlier cycle"]
    fever = evidence.evidence_lines({"temperature_c": "38.4", "taken_at": "2026-11-21T14:00:00+00:00",
                                  "fever_policy": "idsa"}, NOW)
    assert fever == ["Temperature 38.4 °C at 14:00 today"]
    timing = evidence.evidence_lines({"dose_id": 7, "given_at": "2026-11-20T10:00:00+00:00",
                                   "chemo_at": "2026-11-20T09:00:00+00:00", "product": "filgrastim",
                                   "chemo_ends_at": "2026-11-20T11:00:00+00:00"}, NOW)
    assert timing == ["Filgrastim given 10:00 yesterday; chemotherapy given 09:00 yesterday, "
                      "infusion ending 11:00 yesterday"]
    held = evidence.evidence_lines({"exception_id": 12, "anc_1e9_per_l": "0.2", "held": [12, 13]}, NOW)
    assert held == ["ANC 0.20 ×10⁹/L, grade 4"]
    unknown = evidence.evidence_lines({"retry_id": 3, "repeat": True, "reason": "lab closed"}, NOW)
    assert unknown == ["Reason: lab closed"]


def test_recheck_time_in_words():
    lines = evidence.evidence_lines({"temperature_c": "38.1", "taken_at": "2026-11-21T14:00:00+00:00",
                                  "recheck_by": "2026-11-21T15:00:00+00:00"}, NOW)
    assert lines == ["Temperature 38.1 °C at 14:00 today", "Re-check the temperature by 15:00 today"]


def test_a_censored_count_reads_as_received_in_the_headline():
    """Issue 21 item 9: "<0.1" everywhere, the ward's headline too, never its stored bound "0.10"."""
    censored = alert("grade4_observed", {"anc_1e9_per_l": "0.100", "anc_as_received": "<0.1", "ctcae_grade": 4})
    assert presentation.headline(censored, NOW).startswith("Grade 4 observed (ANC <0.1)")
    measured = alert("grade4_observed", {"anc_1e9_per_l": "0.370", "ctcae_grade": 4})
    assert presentation.headline(measured, NOW).startswith("Grade 4 observed (ANC 0.37")


def test_a_late_fever_and_the_hottest_reading_read_as_words():
    lines = evidence.evidence_lines({"temperature_c": "38.4", "taken_at": "2026-11-20T08:00:00+00:00",
                                  "hottest_c": "39.20", "hottest_at": "2026-11-20T09:00:00+00:00",
                                  "entered_at": "2026-11-21T14:00:00+00:00", "entered_late_hours": 30,
                                  "late_fever": True}, NOW)
    assert lines == ["Temperature 38.4 °C at 08:00 yesterday; hottest 39.2 °C at 09:00 yesterday; entered 30 h "
                     "after it was taken (14:00 today)"]
    late = alert("fever_unknown_anc", {"late_fever": True, "entered_late_hours": 30}, severity=3,
                 label="Fever entered late, neutrophil status unknown")
    assert presentation.headline(late, NOW) == ("Fever entered late, neutrophil status unknown (30 h late: "
                                         "phone patient now) - see alert")


def test_a_held_count_reads_every_reading_in_words_not_as_data():
    # "Readings: {'reading': 'as received', 'anc_1e9_per_l': '80.000', 'ctcae_grade': 0}, ..." on the patient page.
    held = rules.HeldCount(7, tuple(clinical.held_readings(Decimal("80"), "10^9/L")), "ANC 80 x10^9/L",
                           "2026-11-21 14:00", "held for confirmation")
    lines = evidence.evidence_lines(rules.held_result([held]).evidence, NOW)
    assert "Readings: as received 80.000 ×10⁹/L, grade 0; if it is cells/uL 0.080 ×10⁹/L, grade 4" in lines
    assert not any("{" in line or "ctcae_grade" in line for line in lines)

"""The alert rules on plain data: observed and predicted grade, readiness, the nadir window; findings' order."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from monitoring import clinical
from monitoring.alerts import rules
from tests.unit.alerts.cycle_facts import DAY1, T, count, facts, forecast, kinds, point, temp

# --- 1. observed grade (CTCAE v5.0: boundaries belong to the milder grade) ----------------------

def test_grade4_observed_is_critical_with_the_count_as_evidence():
    found = kinds(facts(8, counts=(count(8, "0.49"),)))
    assert found[rules.GRADE4_OBSERVED].severity == rules.CRITICAL
    assert found[rules.GRADE4_OBSERVED].evidence["anc_1e9_per_l"] == "0.49"
    assert "0.49" in found[rules.GRADE4_OBSERVED].message
    assert rules.GRADE3_OBSERVED not in found


def test_anc_exactly_half_is_grade3_high_not_grade4():
    found = kinds(facts(8, counts=(count(8, "0.5"),)))
    assert found[rules.GRADE3_OBSERVED].severity == rules.HIGH
    assert rules.GRADE4_OBSERVED not in found


def test_anc_exactly_one_raises_no_observed_alert():
    assert not {rules.GRADE3_OBSERVED, rules.GRADE4_OBSERVED} & set(kinds(facts(8, counts=(count(8, "1.0"),))))


def test_a_recovering_count_marks_the_observed_grade_cleared_at_the_recovery_count():
    found = kinds(facts(12, counts=(count(8, "0.3"), count(12, "1.6"))))
    assert found[rules.GRADE4_OBSERVED].cleared_at == count(12, "1.6").collected_at
    assert kinds(facts(12, counts=(count(8, "0.8"), count(12, "1.0"))))[rules.GRADE3_OBSERVED].cleared_at is not None


def test_the_worst_count_of_the_cycle_decides_in_any_arrival_order():
    morning, afternoon = count(8, "0.30"), count(8.25, "0.62")
    for counts in ((morning, afternoon), (afternoon, morning)):
        found = kinds(facts(8.5, counts=counts))
        assert found[rules.GRADE4_OBSERVED].evidence["anc_1e9_per_l"] == "0.30"
        assert found[rules.GRADE4_OBSERVED].cleared_at == afternoon.collected_at  # 0.62 is above 0.5
        assert rules.GRADE3_OBSERVED not in found


def test_a_count_back_below_the_bound_undoes_the_clearing():
    found = kinds(facts(9, counts=(count(8, "0.3"), count(8.5, "0.7"), count(9, "0.45"))))
    assert found[rules.GRADE4_OBSERVED].cleared_at is None


def test_a_pre_dose_count_is_graded_in_the_coming_cycle_not_one_earlier():
    assert rules.GRADE4_OBSERVED in kinds(facts(2, counts=(count(0.9, "0.3"),)))  # 2.4 h before day 1
    assert rules.GRADE4_OBSERVED not in kinds(facts(2, counts=(count(-3.5, "0.3"),)))  # 4.5 days before
    # ... and not in this cycle when it is the next cycle's pre-dose count
    assert rules.GRADE4_OBSERVED not in kinds(facts(22, counts=(count(21.5, "0.3"),)))


def test_a_cycle_not_yet_started_grades_its_pre_dose_count_but_runs_no_forecast_rule():
    found = kinds(facts(0.95, counts=(count(0.9, "0.4"),), chemo_given=False, forecast=forecast(p_grade4=0.9)))
    assert set(found) == {rules.GRADE4_OBSERVED}
    assert rules.evaluate(facts(0, counts=()), T) == []


def test_a_finished_cycle_still_raises_a_critical_count_but_nothing_else():
    # Finished because the next cycle was given: that one is the current cycle, where fevers are judged.
    over = facts(8, counts=(count(8, "0.2"),), cycle_over=True, is_current=False, temperatures=(temp(7.9, "39"),))
    assert [f.kind for f in rules.evaluate(over, T)] == [rules.GRADE4_OBSERVED]
    assert rules.evaluate(facts(8, counts=(count(8, "0.7"),), cycle_over=True, is_current=False), T) == []


def test_a_cycle_over_but_still_current_judges_fevers_too_critical_findings_only():
    # The patient was made inactive with her course active: her cycle is over but still her current one.
    over = facts(8, counts=(count(8, "0.2"),), cycle_over=True, temperatures=(temp(7.9, "39"),))
    assert {f.kind for f in rules.evaluate(over, T)} == {rules.GRADE4_OBSERVED, rules.FEBRILE_NEUTROPENIA}
    assert rules.evaluate(facts(8, counts=(count(8, "0.7"),), cycle_over=True), T) == []


def test_a_patient_without_a_cycle_gets_observed_alerts_only():
    alone = facts(8, day1=None, next_day1=None, chemo_given=False, on_chemotherapy=False, fn_risk="",
                  counts=(count(8, "0.3"),), forecast=forecast(p_grade4=0.9))
    assert set(kinds(alone)) == {rules.GRADE4_OBSERVED}
    fever_only = replace(alone, counts=(), temperatures=(temp(7.9, "39.0"),))
    assert rules.evaluate(fever_only, T) == []  # not on chemotherapy: no NICE fever alert


def test_observed_only_leaves_the_forecast_rules_to_the_worker():
    busy = facts(4.01, fn_risk="high", counts=(count(4, "0.3"),), forecast=forecast(p_grade4=0.9))
    assert set(kinds(busy)) >= {rules.GRADE4_OBSERVED, rules.GCSF_NOT_GIVEN}
    assert {f.kind for f in rules.evaluate(busy, T, observed_only=True)} == {rules.GRADE4_OBSERVED}
    assert {f.kind for f in rules.evaluate(busy, T, observed_only=True)} <= rules.OBSERVED_KINDS


# --- 2. grade 4 predicted -------------------------------------------------------------------------

def test_grade4_predicted_at_threshold_gives_nadir_date():
    found = kinds(facts(3, forecast=forecast(p_grade4=0.2)))
    finding = found[rules.GRADE4_PREDICTED]
    assert finding.severity == rules.HIGH
    assert "Mon 18 May" in finding.message  # day 8 of a cycle given Mon 11 May
    assert finding.evidence["p_grade4"] == 0.2


def test_the_grade4_predicted_threshold_is_the_cost_ratios_and_the_settings_default():
    # Alert when P >= 1 / (1 + R): a missed grade 4 weighed as R = 4 false alerts (clinical/thresholds.py).
    assert clinical.GRADE4_PREDICTED_PROBABILITY == pytest.approx(1 / (1 + clinical.GRADE4_PREDICTED_COST_RATIO))
    assert T.grade4_predicted_probability == pytest.approx(0.2)
    assert T.grade4_predicted_clear_probability < T.grade4_predicted_probability
    from monitoring.alerts.evaluate import thresholds  # the clinic's settings: the same defaults

    configured = thresholds()
    assert (configured.grade4_predicted_probability, configured.grade4_predicted_clear_probability,
            configured.rearm_margin) == (T.grade4_predicted_probability, T.grade4_predicted_clear_probability,
                                         T.rearm_margin)


def test_grade4_predicted_below_threshold_or_configured_higher_is_quiet():
    assert rules.GRADE4_PREDICTED not in kinds(facts(3, forecast=forecast(p_grade4=0.19)))
    strict = rules.Thresholds(grade4_predicted_probability=0.8)
    assert not rules.evaluate(facts(3, forecast=forecast(p_grade4=0.7)), strict)


def test_grade4_predicted_gives_way_once_observed():
    found = kinds(facts(8, forecast=forecast(p_grade4=0.9), counts=(count(8, "0.4"),)))
    assert rules.GRADE4_PREDICTED not in found and rules.GRADE4_OBSERVED in found


# --- 4. not ready ---------------------------------------------------------------------------------

def test_low_pre_dose_count_means_not_ready_medium():
    found = kinds(facts(21, counts=(count(20, "1.4"),)))
    assert found[rules.NOT_READY].severity == rules.MEDIUM
    assert "cycle 2" in found[rules.NOT_READY].message


def test_pre_dose_count_at_threshold_wins_over_a_gloomy_forecast():
    assert rules.NOT_READY not in kinds(facts(21, counts=(count(20, "1.5"),), forecast=forecast(p_ready=0.1)))


def test_forecast_not_ready_gives_the_predicted_recovery_date():
    slow = forecast(p_ready=0.3, trajectory=[point(8, 0.6, 0.3), point(20, 1.2, 0.8), point(24, 1.6, 1.1)])
    found = kinds(facts(6, forecast=slow))
    assert "Predicted recovery to 1.5 x10^9/L around Wed 03 Jun" in found[rules.NOT_READY].message
    assert rules.NOT_READY not in kinds(facts(6, forecast=forecast(p_ready=0.5)))


def test_last_cycle_of_course_has_no_readiness_alert():
    assert rules.NOT_READY not in kinds(facts(21, counts=(count(20, "1.0"),), next_day1=None))


# --- 5. nadir window unmonitored ----------------------------------------------------------------------

def test_nadir_window_under_way_without_a_count_is_low():
    found = kinds(facts(8, forecast=forecast(nadir_day=8)))
    assert found[rules.NADIR_UNMONITORED].severity == rules.LOW


def test_a_count_in_the_window_or_a_low_risk_regimen_or_before_the_window_is_quiet():
    assert rules.NADIR_UNMONITORED not in kinds(facts(8, forecast=forecast(nadir_day=8), counts=(count(7, "2.0"),)))
    assert rules.NADIR_UNMONITORED not in kinds(facts(8, forecast=forecast(nadir_day=8), fn_risk="low"))
    assert rules.NADIR_UNMONITORED not in kinds(facts(5, forecast=forecast(nadir_day=8)))


def test_without_forecast_the_regimen_window_is_used():
    assert rules.NADIR_UNMONITORED in kinds(facts(9))  # regimen window days 7-10
    assert rules.NADIR_UNMONITORED not in kinds(facts(11.5))


def test_findings_come_most_severe_first():
    found = rules.evaluate(facts(9, fn_risk="high", counts=(count(8.5, "0.3"),),
                                 temperatures=(temp(8.9, "38.6"),)), T)
    assert [f.severity for f in found] == sorted((f.severity for f in found), reverse=True)
    assert found[0].severity == rules.CRITICAL


# --- "Not ready" when the next day 1 moves (a delayed cycle), decided at the write ---------------

def test_a_forecast_not_ready_names_the_day_it_was_moved_to_and_the_probability_it_rested_on():
    first = facts(day=20, forecast=forecast(p_ready=0.2))
    [finding] = [f for f in rules.evaluate(first, rules.Thresholds()) if f.kind == rules.NOT_READY]
    moved = facts(day=20, next_day1=DAY1 + timedelta(days=28))
    again = rules.not_ready_moved(moved, finding.evidence)
    assert again.kind == rules.NOT_READY
    assert again.message.startswith("Predicted not ready for cycle 2 on Mon 08 Jun (moved from Mon 01 Jun)")
    assert "was 20% for Mon 01 Jun" in again.message
    assert again.evidence["next_day1"] == moved.next_day1.isoformat()
    # Not moved, or moved and then the cycle is over: nothing to say here.
    assert rules.not_ready_moved(first, finding.evidence) is None
    assert rules.not_ready_moved(replace(moved, cycle_over=True), finding.evidence) is None

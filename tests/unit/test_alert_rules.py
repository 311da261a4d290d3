"""The alert rules on plain data: each rule's trigger, its boundary and what clears it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from monitoring import alert_rules as rules
from monitoring.clinical import TemperaturePoint

DAY1 = datetime(2026, 5, 11, 9, 0, tzinfo=UTC)
T = rules.Thresholds()


def facts(day: float = 5, **changes) -> rules.CycleFacts:
    """An intermediate-risk 21-day cycle given at DAY1, looked at on cycle day `day`."""
    base = rules.CycleFacts(
        now=DAY1 + timedelta(days=day - 1), clinic_tz=UTC, cycle_number=1, day1=DAY1, chemo_given=True,
        cycle_over=False, next_day1=DAY1 + timedelta(days=21), fn_risk="intermediate",
        nadir_window_days=(7, 10), next_cycle_anc_1e9_per_l=Decimal("1.5"),
    )
    return replace(base, **changes)


def count(day: float, anc: str) -> rules.CountPoint:
    return rules.CountPoint(DAY1 + timedelta(days=day - 1), Decimal(anc), count_id=int(day * 10))


def temp(day: float, celsius: str) -> TemperaturePoint:
    return TemperaturePoint(DAY1 + timedelta(days=day - 1), Decimal(celsius))


def forecast(p_grade4=0.1, p_ready=0.9, nadir_day=8.0, trajectory=()) -> rules.ForecastFacts:
    return rules.ForecastFacts(nadir_anc_1e9_per_l=0.6, nadir_lo80=0.3, nadir_hi80=1.1,
                               nadir_at=DAY1 + timedelta(days=nadir_day - 1), p_grade4=p_grade4,
                               p_ready=p_ready, trajectory=tuple(trajectory))


def point(day: float, anc: float, lo80: float) -> rules.TrajectoryPoint:
    return rules.TrajectoryPoint(DAY1 + timedelta(days=day - 1), anc, lo80, anc * 1.5)


def kinds(cycle_facts: rules.CycleFacts) -> dict[str, rules.Finding]:
    return {f.kind: f for f in rules.evaluate(cycle_facts, T)}


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


def test_a_recovering_count_clears_the_observed_grade():
    found = kinds(facts(12, counts=(count(8, "0.3"), count(12, "1.6"))))
    assert rules.GRADE4_OBSERVED not in found


def test_counts_before_day1_are_not_observed_in_the_cycle():
    assert rules.GRADE4_OBSERVED not in kinds(facts(2, counts=(count(0, "0.3"),)))


def test_finished_or_future_cycle_has_no_findings():
    assert rules.evaluate(facts(8, counts=(count(8, "0.2"),), cycle_over=True), T) == []
    assert rules.evaluate(facts(0, counts=()), T) == []


# --- 2. grade 4 predicted -------------------------------------------------------------------------

def test_grade4_predicted_at_threshold_gives_nadir_date():
    found = kinds(facts(3, forecast=forecast(p_grade4=0.5)))
    finding = found[rules.GRADE4_PREDICTED]
    assert finding.severity == rules.HIGH
    assert "Mon 18 May" in finding.message  # day 8 of a cycle given Mon 11 May
    assert finding.evidence["p_grade4"] == 0.5


def test_grade4_predicted_below_threshold_or_configured_higher_is_quiet():
    assert rules.GRADE4_PREDICTED not in kinds(facts(3, forecast=forecast(p_grade4=0.49)))
    strict = rules.Thresholds(grade4_predicted_probability=0.8)
    assert not rules.evaluate(facts(3, forecast=forecast(p_grade4=0.7)), strict)


def test_grade4_predicted_gives_way_once_observed():
    found = kinds(facts(8, forecast=forecast(p_grade4=0.9), counts=(count(8, "0.4"),)))
    assert rules.GRADE4_PREDICTED not in found and rules.GRADE4_OBSERVED in found


# --- 3. febrile neutropenia (IDSA 2010 fever; NCCN / IDSA neutropenia) ------------------------------

def test_single_383_with_last_anc_below_one_is_critical_fn():
    found = kinds(facts(9, counts=(count(8, "0.8"),), temperatures=(temp(8.9, "38.3"),)))
    finding = found[rules.FEBRILE_NEUTROPENIA]
    assert finding.severity == rules.CRITICAL
    assert "antibiotics within 60 minutes" in finding.message


def test_single_382_is_not_fever():
    assert rules.FEBRILE_NEUTROPENIA not in kinds(facts(9, counts=(count(8, "0.8"),),
                                                       temperatures=(temp(8.9, "38.2"),)))


def test_380_sustained_one_hour_is_fever_but_fifty_minutes_is_not():
    hour = 1 / 24
    sustained = (temp(8.8, "38.0"), temp(8.8 + hour, "38.1"))
    short = (temp(8.8, "38.0"), temp(8.8 + 50 / 1440, "38.1"))
    assert rules.FEBRILE_NEUTROPENIA in kinds(facts(9, counts=(count(8, "0.8"),), temperatures=sustained))
    assert rules.FEBRILE_NEUTROPENIA not in kinds(facts(9, counts=(count(8, "0.8"),), temperatures=short))


def test_fever_with_normal_count_but_forecast_low_within_48h_is_fn():
    low_soon = forecast(trajectory=[point(9, 1.2, 0.8), point(10, 0.7, 0.45)])
    found = kinds(facts(9, counts=(count(7, "1.4"),), temperatures=(temp(8.9, "38.5"),), forecast=low_soon))
    assert rules.FEBRILE_NEUTROPENIA in found
    assert "within 48 h" in found[rules.FEBRILE_NEUTROPENIA].message


def test_fever_with_forecast_low_only_after_48h_is_not_fn():
    low_late = forecast(trajectory=[point(9, 1.2, 0.8), point(11.5, 0.7, 0.45)])
    found = kinds(facts(9, counts=(count(7, "1.4"),), temperatures=(temp(8.9, "38.5"),), forecast=low_late))
    assert rules.FEBRILE_NEUTROPENIA not in found


def test_fever_older_than_24h_no_longer_raises_fn():
    assert rules.FEBRILE_NEUTROPENIA not in kinds(facts(10, counts=(count(8, "0.3"),),
                                                       temperatures=(temp(8.9, "39.0"),)))


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


# --- 6. G-CSF not given -----------------------------------------------------------------------------

def test_high_risk_regimen_without_gcsf_by_end_of_day3_is_medium():
    found = kinds(facts(4.01, fn_risk="high"))
    assert found[rules.GCSF_NOT_GIVEN].severity == rules.MEDIUM
    assert rules.GCSF_NOT_GIVEN not in kinds(facts(3.9, fn_risk="high"))


def test_gcsf_recorded_clears_it():
    assert rules.GCSF_NOT_GIVEN not in kinds(facts(5, fn_risk="high", gcsf_given_at=(DAY1 + timedelta(days=1),)))


def test_intermediate_risk_needs_a_patient_risk_factor():
    assert rules.GCSF_NOT_GIVEN not in kinds(facts(5))
    found = kinds(facts(5, gcsf_risk_factors=("age 65 or over",)))
    assert "age 65 or over" in found[rules.GCSF_NOT_GIVEN].message


def test_findings_come_most_severe_first():
    found = rules.evaluate(facts(9, fn_risk="high", counts=(count(8.5, "0.3"),),
                                 temperatures=(temp(8.9, "38.6"),)), T)
    assert [f.severity for f in found] == sorted((f.severity for f in found), reverse=True)
    assert found[0].severity == rules.CRITICAL

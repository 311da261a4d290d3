"""The alert rules on plain data: each rule's trigger, its boundary and what clears it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from monitoring import clinical
from monitoring.alerts import rules
from monitoring.clinical import TemperaturePoint, chemo_interval_days

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


def chemo(day: float, infusion_hours: int = 0) -> rules.ChemoPoint:
    """A chemotherapy dose started on cycle day `day`, with a continuous infusion of `infusion_hours` after it."""
    return rules.ChemoPoint(DAY1 + timedelta(days=day - 1), infusion_hours)


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


# --- 3. febrile neutropenia (IDSA 2010 fever; NCCN / IDSA neutropenia) ------------------------------

def test_single_383_with_last_anc_below_one_is_critical_fn():
    found = kinds(facts(9, counts=(count(8, "0.8"),), temperatures=(temp(8.9, "38.3"),)))
    finding = found[rules.FEBRILE_NEUTROPENIA]
    assert finding.severity == rules.CRITICAL
    assert "antibiotics within 60 minutes" in finding.message


def test_single_382_is_not_fever():
    assert rules.FEBRILE_NEUTROPENIA not in kinds(facts(9, counts=(count(8, "0.8"),),
                                                       temperatures=(temp(8.9, "38.2"),)))


def test_a_single_380_asks_for_a_recheck_and_a_recheck_of_380_makes_it_fn():
    # With ANC 0.8 (above NICE's 0.5) a single 38.1 C is IDSA's re-check under every policy but NICE's
    # own (a fever there): IDSA alone here.
    idsa = rules.Thresholds(fever_policy="idsa")

    def kinds(cycle_facts):
        return {f.kind: f for f in rules.evaluate(cycle_facts, idsa)}

    low = (count(8.9, "0.8"),)
    first = kinds(facts(9, counts=low, temperatures=(temp(8.95, "38.1"),)))
    assert first[rules.FEVER_RECHECK].severity == rules.MEDIUM
    assert "re-check within 60 minutes" in first[rules.FEVER_RECHECK].message
    assert rules.FEBRILE_NEUTROPENIA not in first
    confirmed = kinds(facts(9, counts=low, temperatures=(temp(8.95, "38.1"), temp(8.98, "38.0"))))
    assert rules.FEBRILE_NEUTROPENIA in confirmed and rules.FEVER_RECHECK not in confirmed
    settled = kinds(facts(9, counts=low, temperatures=(temp(8.95, "38.1"), temp(8.98, "37.6"))))
    assert not {rules.FEBRILE_NEUTROPENIA, rules.FEVER_RECHECK} & set(settled)


def test_nice_policy_makes_one_reading_above_380_a_fever():
    nice = rules.Thresholds(fever_policy="nice")
    readings = (temp(8.95, "38.1"),)
    found = {f.kind: f for f in rules.evaluate(facts(9, counts=(count(8.9, "0.4"),), temperatures=readings), nice)}
    assert found[rules.FEBRILE_NEUTROPENIA].evidence["fever_policy"] == "nice"
    assert "fever policy: NICE CG151 (local policy)" in found[rules.FEBRILE_NEUTROPENIA].message
    # NICE's neutropenic sepsis is ANC <= 0.5: at 0.8 the fever is "assess for infection" (high), not FN.
    above = {f.kind: f for f in rules.evaluate(facts(9, counts=(count(8.9, "0.8"),), temperatures=readings), nice)}
    assert rules.FEBRILE_NEUTROPENIA not in above and above[rules.FEVER_UNKNOWN_ANC].severity == rules.HIGH
    # And the NICE setting keeps the sustained 38.0 C rule (issue 21 item 6).
    sustained = (temp(8.9, "38.0"), temp(8.95, "38.0"))
    assert rules.FEBRILE_NEUTROPENIA in {f.kind for f in rules.evaluate(
        facts(9, counts=(count(8.9, "0.4"),), temperatures=sustained), nice)}
    exactly = {f.kind for f in rules.evaluate(facts(9, counts=(count(8.9, "0.8"),),
                                                    temperatures=(temp(8.95, "38.0"),)), nice)}
    assert exactly == {rules.GRADE3_OBSERVED, rules.FEVER_RECHECK}


# --- 3b. fever with unknown neutrophil status (NICE CG151) ------------------------------------------

def test_fever_with_no_count_for_days_and_no_forecast_is_critical():
    found = kinds(facts(9, fn_risk="high", counts=(count(5, "2.0"),), temperatures=(temp(8.9, "39.0"),)))
    finding = found[rules.FEVER_UNKNOWN_ANC]
    assert finding.severity == rules.CRITICAL
    assert ("fever in a patient on chemotherapy: treat as possible neutropenic sepsis, urgent FBC and "
            "assessment") in finding.message


def test_fever_on_day3_with_a_reassuring_forecast_still_raises_something():
    calm = forecast(trajectory=[point(d, 4.0, 3.0) for d in (2, 3, 4, 5, 6)])
    found = kinds(facts(3, temperatures=(temp(2.9, "38.5"),), forecast=calm))
    assert found[rules.FEVER_UNKNOWN_ANC].severity == rules.CRITICAL
    measured = kinds(facts(3, counts=(count(2.8, "4.1"),), temperatures=(temp(2.9, "38.5"),), forecast=calm))
    assert measured[rules.FEVER_UNKNOWN_ANC].severity == rules.HIGH  # a normal count today: still assess


def test_fever_with_a_low_count_is_fn_not_also_unknown_status():
    found = kinds(facts(9, counts=(count(8.5, "0.4"),), temperatures=(temp(8.9, "38.6"),)))
    assert rules.FEBRILE_NEUTROPENIA in found and rules.FEVER_UNKNOWN_ANC not in found


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

def test_high_risk_regimen_without_gcsf_72h_after_the_last_chemo_dose_is_medium():
    # Issue 21 item 8: due at the END of the labels' window (72 h), not at the first hour G-CSF may be given.
    found = kinds(facts(4.01, fn_risk="high", chemo_given_at=(chemo(1),)))
    assert found[rules.GCSF_NOT_GIVEN].severity == rules.MEDIUM
    assert "primary prophylaxis is indicated" in found[rules.GCSF_NOT_GIVEN].message
    assert rules.GCSF_NOT_GIVEN not in kinds(facts(3.9, fn_risk="high", chemo_given_at=(chemo(1),)))
    # a day-2 chemotherapy dose moves the prompt to 72 h after it
    two_days = (chemo(1), chemo(2))
    assert rules.GCSF_NOT_GIVEN not in kinds(facts(4.9, fn_risk="high", chemo_given_at=two_days))


def test_a_recorded_not_indicated_or_declined_stops_the_prompt():
    assert rules.GCSF_NOT_GIVEN in kinds(facts(5, fn_risk="high", chemo_given_at=(chemo(1),)))
    assert rules.GCSF_NOT_GIVEN not in kinds(facts(5, fn_risk="high", chemo_given_at=(chemo(1),),
                                                   gcsf_decision="Declined by the patient"))


def test_after_febrile_neutropenia_any_regimen_prompts_secondary_prophylaxis():
    found = kinds(facts(5, fn_risk="low", prior_febrile_neutropenia=True))
    assert "secondary prophylaxis" in found[rules.GCSF_NOT_GIVEN].message
    assert "ASCO 2015" in found[rules.GCSF_NOT_GIVEN].message


def test_gcsf_recorded_clears_it():
    assert rules.GCSF_NOT_GIVEN not in kinds(facts(5, fn_risk="high", gcsf_given_at=(DAY1 + timedelta(days=1),)))


def test_intermediate_risk_needs_a_patient_risk_factor():
    assert rules.GCSF_NOT_GIVEN not in kinds(facts(5))
    found = kinds(facts(5, gcsf_risk_factors=("age 65 or over",)))
    assert "age 65 or over" in found[rules.GCSF_NOT_GIVEN].message
    assert found[rules.GCSF_NOT_GIVEN].message.startswith("Consider G-CSF")


def test_with_a_46h_pump_gcsf_is_due_72h_after_the_infusion_ends_not_after_its_start():
    pump = (chemo(1, infusion_hours=46),)  # FOLFOX-type: 5-FU pump from day 1 09:00 to day 3 07:00
    at_40h = facts(1 + 40 / 24, fn_risk="high", chemo_given_at=pump)
    assert rules.GCSF_NOT_GIVEN not in kinds(at_40h)  # the pump is still running
    assert rules.GCSF_NOT_GIVEN not in kinds(replace(at_40h, now=DAY1 + timedelta(hours=117)))  # 71 h after its end
    found = kinds(replace(at_40h, now=DAY1 + timedelta(hours=119)))[rules.GCSF_NOT_GIVEN]
    assert found.evidence["due_by"] == (DAY1 + timedelta(hours=46 + 72)).isoformat()
    assert "72 h after the end of the last chemotherapy dose's 46-hour infusion (Wed 13 May 07:00)" in found.message
    # without an infusion, as before: due 72 h after the dose
    assert rules.GCSF_NOT_GIVEN in kinds(replace(at_40h, chemo_given_at=(chemo(1),), now=DAY1 + timedelta(hours=73)))


# --- 7. G-CSF timing (product labels) -------------------------------------------------------------

def gcsf(day: float, product: str = "pegfilgrastim") -> rules.GcsfPoint:
    return rules.GcsfPoint(DAY1 + timedelta(days=day - 1), product, dose_id=7)


def test_pegfilgrastim_within_24h_after_chemo_is_flagged_and_after_24h_is_not():
    early = kinds(facts(3, gcsf_doses=(gcsf(1.5),), chemo_times=(chemo(1),)))
    assert early[rules.GCSF_TIMING].severity == rules.MEDIUM
    assert "14 days before to 24 h after" in early[rules.GCSF_TIMING].message
    assert rules.GCSF_TIMING not in kinds(facts(3, gcsf_doses=(gcsf(2.05),), chemo_times=(chemo(1),)))


def test_pegfilgrastim_in_the_14_days_before_chemo_is_flagged():
    before = kinds(facts(3, gcsf_doses=(gcsf(-4),), chemo_times=(chemo(1),)))
    assert "days before" in before[rules.GCSF_TIMING].message


def test_day2_pegfilgrastim_in_a_regimen_given_every_2_weeks_is_not_flagged_but_later_doses_are():
    day1s = (chemo(1), chemo(15))  # day 1 of cycles 1 and 2 of a 14-day regimen
    every_2_weeks = facts(15.2, next_day1=DAY1 + timedelta(days=28), chemo_times=day1s, chemo_interval_days=14)
    assert rules.GCSF_TIMING not in kinds(replace(every_2_weeks, gcsf_doses=(gcsf(2.05),)))  # 13 days before
    assert rules.GCSF_TIMING not in kinds(replace(every_2_weeks, gcsf_doses=(gcsf(3),)))  # 12 days before
    late = kinds(replace(every_2_weeks, gcsf_doses=(gcsf(5),)))[rules.GCSF_TIMING]  # 10 days before
    assert "at least 12 days before the next (NCCN)" in late.message
    assert rules.GCSF_TIMING in kinds(replace(every_2_weeks, gcsf_doses=(gcsf(1.5),)))  # within 24 h after
    # The label's 14 days elsewhere: weekly (no data, NCCN), unknown, and days 1 and 8 of a 3-week cycle.
    for interval in (7, None):
        other = replace(every_2_weeks, gcsf_doses=(gcsf(2.05),), chemo_interval_days=interval)
        assert "14 days before to 24 h after" in kinds(other)[rules.GCSF_TIMING].message


@pytest.mark.parametrize("cycle_length, chemo_days, interval", [
    (14, [1], 14), (21, [1], 21), (7, [1], 7), (21, [1, 8], 7), (28, [1, 15], 14), (28, [8, 1, 15], 7),
])
def test_the_regimens_shortest_interval_between_chemotherapy_days(cycle_length, chemo_days, interval):
    assert chemo_interval_days(cycle_length, chemo_days) == interval


def test_filgrastim_starts_24h_after_chemo():
    assert rules.GCSF_TIMING in kinds(facts(3, gcsf_doses=(gcsf(1.5, "filgrastim"),), chemo_times=(chemo(1),)))
    assert rules.GCSF_TIMING not in kinds(facts(3, gcsf_doses=(gcsf(2.1, "filgrastim"),), chemo_times=(chemo(1),)))
    assert rules.GCSF_TIMING not in kinds(facts(3, gcsf_doses=(gcsf(-4, "filgrastim"),), chemo_times=(chemo(1),)))


def test_filgrastim_while_a_46h_pump_still_runs_is_flagged_in_plain_words():
    pump = (chemo(1, infusion_hours=46),)  # started Mon 11 May 09:00, ends Wed 13 May 07:00
    found = kinds(facts(3, gcsf_doses=(gcsf(1 + 30 / 24, "filgrastim"),), chemo_times=pump))[rules.GCSF_TIMING]
    assert ("Filgrastim given Tue 12 May 15:00, 30 h after the start of chemotherapy (Mon 11 May 09:00), while the "
            "46-hour continuous infusion was still running (ends Wed 13 May 07:00)") in found.message
    assert "24-72 h after cytotoxic chemotherapy ends" in found.message
    assert found.evidence == {"dose_id": 7, "given_at": (DAY1 + timedelta(hours=30)).isoformat(),
                              "chemo_at": DAY1.isoformat(), "product": "filgrastim",
                              "chemo_ends_at": (DAY1 + timedelta(hours=46)).isoformat(), "chemo_planned": False,
                              "acts_at": (DAY1 + timedelta(hours=30)).isoformat()}
    # the same dose after a regimen without an infusion: 30 h after chemotherapy is fine, as before
    assert rules.GCSF_TIMING not in kinds(facts(3, gcsf_doses=(gcsf(1 + 30 / 24, "filgrastim"),),
                                                chemo_times=(chemo(1),)))


def test_after_a_46h_pump_the_24h_count_from_its_end_and_the_24h_before_from_its_start():
    pump = (chemo(1, infusion_hours=46),)

    def filgrastim_at(hours: float) -> rules.Finding | None:
        dose = gcsf(1 + hours / 24, "filgrastim")
        return kinds(facts(5, gcsf_doses=(dose,), chemo_times=pump)).get(rules.GCSF_TIMING)

    assert "23 h after the 46-hour continuous infusion ended (Wed 13 May 07:00)" in filgrastim_at(69).message
    assert filgrastim_at(72) is None  # 26 h after the end
    assert "0.5 days before chemotherapy" in filgrastim_at(-12).message  # the 24 h before: from the start
    assert filgrastim_at(-25) is None
    peg = kinds(facts(5, gcsf_doses=(gcsf(1 + 50 / 24),), chemo_times=pump))[rules.GCSF_TIMING]
    assert "to 24 h after cytotoxic chemotherapy ends" in peg.message  # pegfilgrastim at pump disconnection
    assert rules.GCSF_TIMING not in kinds(facts(5, gcsf_doses=(gcsf(1 + 71 / 24),), chemo_times=pump))


def test_findings_come_most_severe_first():
    found = rules.evaluate(facts(9, fn_risk="high", counts=(count(8.5, "0.3"),),
                                 temperatures=(temp(8.9, "38.6"),)), T)
    assert [f.severity for f in found] == sorted((f.severity for f in found), reverse=True)
    assert found[0].severity == rules.CRITICAL


def test_pegfilgrastim_the_day_after_a_2_weekly_pump_is_disconnected_is_not_flagged():
    # FOLFOX every 2 weeks: day 1 09:00 with a 46-h pump, next cycle day 15. The label's earliest
    # time is day 4 (24 h after the pump ends), about 11 days before day 15: NCCN's 12 days cannot
    # be kept, so the window before the next cycle is what the schedule leaves (10 days).
    pump = (chemo(1, infusion_hours=46), chemo(15, infusion_hours=46))

    def peg_on(day: float) -> rules.Finding | None:
        return kinds(facts(day + 0.1, gcsf_doses=(gcsf(day),), chemo_times=pump, chemo_interval_days=14,
                           next_day1=DAY1 + timedelta(days=14))).get(rules.GCSF_TIMING)

    assert peg_on(4) is None and peg_on(4 + 14 / 24) is None  # day 4, morning and evening
    assert "while the 46-hour continuous infusion was still running" in peg_on(2.5).message
    at_disconnection = peg_on(3)  # 2 h after the pump was disconnected: inside the label's 24 h
    assert "2 h after the 46-hour continuous infusion ended" in at_disconnection.message
    day_6 = peg_on(6)  # 9 days before the next cycle
    assert "9.0 days before chemotherapy" in day_6.message
    assert "with a 46-hour infusion" in day_6.message and "at least 10 days before the next cycle" in day_6.message
    # Without an infusion (dose-dense AC), NCCN's 12 days: day 4 is 11 days before day 15.
    plain = (chemo(1), chemo(15))
    assert "at least 12 days before the next (NCCN)" in kinds(facts(
        4.1, gcsf_doses=(gcsf(4),), chemo_times=plain, chemo_interval_days=14))[rules.GCSF_TIMING].message


# --- 3. the default fever policy: NICE CG151 with IDSA 2010 / CTCAE v5.0 (issue 21, item 6) ---------

def test_default_policy_anc_03_and_382_once_is_febrile_neutropenia_by_nice():
    found = kinds(facts(9, counts=(count(8.9, "0.3"),), temperatures=(temp(8.95, "38.2"),)))
    finding = found[rules.FEBRILE_NEUTROPENIA]
    assert finding.severity == rules.CRITICAL and rules.FEVER_RECHECK not in found
    assert finding.evidence["fever_criterion"] == "above_38_once" and finding.evidence["fever_policy"] == "nice_idsa"
    assert "Fever: a temperature above 38.0 °C (NICE CG151); fever policy: NICE CG151 with IDSA 2010" in finding.message


def test_default_policy_anc_exactly_05_is_nice_neutropenia_but_380_exactly_is_a_recheck():
    at_bound = kinds(facts(9, counts=(count(8.9, "0.5"),), temperatures=(temp(8.95, "38.1"),)))
    assert rules.FEBRILE_NEUTROPENIA in at_bound  # NICE: neutrophils 0.5 or lower
    exactly_38 = kinds(facts(9, counts=(count(8.9, "0.3"),), temperatures=(temp(8.95, "38.0"),)))
    assert rules.FEBRILE_NEUTROPENIA not in exactly_38 and exactly_38[rules.FEVER_RECHECK].severity == rules.MEDIUM


def test_default_policy_anc_08_and_382_once_is_a_fever_to_assess_not_fn():
    found = kinds(facts(9, counts=(count(8.9, "0.8"),), temperatures=(temp(8.95, "38.2"),)))
    assert rules.FEBRILE_NEUTROPENIA not in found and found[rules.FEVER_UNKNOWN_ANC].severity == rules.HIGH
    # IDSA's criteria keep the wider NCCN bound: 38.3 once at 0.8 is FN.
    idsa_fever = kinds(facts(9, counts=(count(8.9, "0.8"),), temperatures=(temp(8.95, "38.3"),)))
    assert idsa_fever[rules.FEBRILE_NEUTROPENIA].evidence["fever_criterion"] == "38_3_once"


def test_idsa_policy_keeps_anc_03_and_382_once_a_recheck():
    idsa = rules.Thresholds(fever_policy="idsa")
    found = {f.kind for f in rules.evaluate(facts(9, counts=(count(8.9, "0.3"),),
                                                  temperatures=(temp(8.95, "38.2"),)), idsa)}
    assert rules.FEVER_RECHECK in found and rules.FEBRILE_NEUTROPENIA not in found


# --- 7. G-CSF timing at save time: the next PLANNED day 1, on-body injectors (issue 21, item 8) --------

def test_pegfilgrastim_10_days_before_the_planned_next_cycle_of_a_2_weekly_regimen_is_flagged_when_recorded():
    # Dose-dense, every 14 days, no infusion: NCCN's 12 days. Cycle 2 is planned, not given.
    planned = dict(chemo_times=(chemo(1),), chemo_interval_days=14, next_day1=DAY1 + timedelta(days=14))
    found = kinds(facts(5.1, gcsf_doses=(gcsf(5),), **planned))[rules.GCSF_TIMING]
    assert "10.0 days before the next planned chemotherapy (Mon 25 May 09:00)" in found.message
    assert found.evidence["chemo_planned"] is True
    assert rules.GCSF_TIMING not in kinds(facts(3.1, gcsf_doses=(gcsf(3),), **planned))  # 12 days before: fine
    # Every 3 weeks the label's 14 days: day 9 is 13 days before day 22.
    three_weekly = dict(chemo_times=(chemo(1),), chemo_interval_days=21, next_day1=DAY1 + timedelta(days=21))
    assert rules.GCSF_TIMING in kinds(facts(9.1, gcsf_doses=(gcsf(9),), **three_weekly))
    assert rules.GCSF_TIMING not in kinds(facts(8.1, gcsf_doses=(gcsf(8),), **three_weekly))


def test_an_on_body_injector_applied_on_day_1_is_judged_on_its_delivery_27h_later():
    injector = rules.GcsfPoint(DAY1 + timedelta(hours=3), "pegfilgrastim", dose_id=7, on_body_injector=True)
    assert rules.GCSF_TIMING not in kinds(facts(2.5, gcsf_doses=(injector,), chemo_times=(chemo(1),)))
    by_hand = rules.GcsfPoint(DAY1 + timedelta(hours=3), "pegfilgrastim", dose_id=8)
    assert rules.GCSF_TIMING in kinds(facts(2.5, gcsf_doses=(by_hand,), chemo_times=(chemo(1),)))
    # An injector applied only 1 h after chemotherapy delivers at 28 h: also fine; applied before it, flagged.
    early = rules.GcsfPoint(DAY1 - timedelta(hours=10), "pegfilgrastim", dose_id=9, on_body_injector=True)
    finding = kinds(facts(2.5, gcsf_doses=(early,), chemo_times=(chemo(1),)))[rules.GCSF_TIMING]
    assert "on-body injector applied" in finding.message and "delivering about" in finding.message


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

"""The G-CSF rules on plain data: G-CSF not given, and its timing against the chemotherapy (product labels)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from monitoring.alerts import rules
from monitoring.clinical import chemo_interval_days
from tests.unit.alerts.cycle_facts import DAY1, chemo, facts, gcsf, kinds

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

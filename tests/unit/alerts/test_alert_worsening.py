"""Issue 21 on plain data: what counts as worse, hysteresis of the forecast alerts, the present in words."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from monitoring.alerts import rules
from tests.unit.alerts.cycle_facts import DAY1, count, facts, forecast, kinds, temp


def finding(kind: str, severity: int = rules.CRITICAL, **evidence) -> rules.Finding:
    return rules.Finding(kind, severity, "now", evidence)


def worse(kind, severity, shown, now, acknowledged=True) -> str | None:
    return rules.worsening(kind, severity, shown, now, acknowledged=acknowledged, tz=UTC)


SHOWN_040 = {"anc_1e9_per_l": "0.40", "collected_at": "2026-05-18T08:10:00+00:00"}


def test_grade4_to_profound_is_worse_with_the_change_in_words():
    now = finding(rules.GRADE4_OBSERVED, anc_1e9_per_l="0.05", collected_at="2026-05-18T14:00:00+00:00")
    assert worse(rules.GRADE4_OBSERVED, rules.CRITICAL, SHOWN_040, now) == (
        "ANC 0.40 at Mon 18 May 08:10 -> ANC 0.05 at Mon 18 May 14:00: profound neutropenia (< 0.1, IDSA 2010)")


@pytest.mark.parametrize("anc", ["0.30", "0.10", "0.45"])
def test_a_lower_grade4_count_that_is_not_profound_is_not_news(anc):
    now = finding(rules.GRADE4_OBSERVED, anc_1e9_per_l=anc, collected_at="2026-05-18T14:00:00+00:00")
    assert worse(rules.GRADE4_OBSERVED, rules.CRITICAL, SHOWN_040, now) is None


def test_profound_again_is_not_news_twice():
    shown = {"anc_1e9_per_l": "0.05"}
    assert worse(rules.GRADE4_OBSERVED, rules.CRITICAL, shown, finding(rules.GRADE4_OBSERVED, anc_1e9_per_l="0.02")) \
        is None


def test_febrile_neutropenia_falling_to_profound_is_worse_even_unacknowledged():
    now = finding(rules.FEBRILE_NEUTROPENIA, anc_1e9_per_l="0.08", temperature_c="38.6")
    assert "profound" in worse(rules.FEBRILE_NEUTROPENIA, rules.CRITICAL, {"anc_1e9_per_l": "0.6"}, now,
                               acknowledged=False)


def test_a_higher_severity_is_worse():
    now = finding(rules.FEVER_UNKNOWN_ANC, rules.CRITICAL, temperature_c="38.6")
    words = worse(rules.FEVER_UNKNOWN_ANC, rules.HIGH, {"temperature_c": "38.4", "anc_1e9_per_l": "1.2"}, now)
    assert words.endswith("now critical, was high")


def test_a_new_raised_reading_after_an_acknowledged_recheck_is_news_but_not_before_it_is_acknowledged():
    shown = {"temperature_c": "38.1", "taken_at": "2026-05-18T08:00:00+00:00"}
    now = finding(rules.FEVER_RECHECK, rules.MEDIUM, temperature_c="38.2", taken_at="2026-05-18T12:00:00+00:00")
    assert "raised again after the re-check" in worse(rules.FEVER_RECHECK, rules.MEDIUM, shown, now)
    assert worse(rules.FEVER_RECHECK, rules.MEDIUM, shown, now, acknowledged=False) is None


def test_the_graver_kinds_replace_the_lesser():
    assert rules.GRADE3_OBSERVED in rules.SUPERSEDES[rules.GRADE4_OBSERVED]
    assert rules.FEVER_UNKNOWN_ANC in rules.SUPERSEDES[rules.FEBRILE_NEUTROPENIA]


# --- Hysteresis (item 10) ----------------------------------------------------------------------


@pytest.mark.parametrize("p, live, cleared_ago, raised", [
    (0.20, False, None, True),            # raise threshold (1 / (1 + 4))
    (0.19, False, None, False),
    (0.10, True, None, True),             # a live alert holds down to the clear threshold
    (0.09, True, None, False),            # and clears below it
    (0.30, False, timedelta(hours=2), False),   # re-arming: needs 0.2 + 0.15
    (0.35, False, timedelta(hours=2), True),
    (0.20, False, timedelta(hours=30), True),   # the re-arm time is over
])
def test_grade4_predicted_hysteresis(p, live, cleared_ago, raised):
    day = facts(5)
    memory = dict(live_kinds=frozenset({rules.GRADE4_PREDICTED}) if live else frozenset(),
                  last_cleared={rules.GRADE4_PREDICTED: day.now - cleared_ago} if cleared_ago else {})
    found = kinds(facts(5, forecast=forecast(p_grade4=p), **memory))
    assert (rules.GRADE4_PREDICTED in found) is raised


def test_a_passed_nadir_window_without_a_count_says_so_and_with_a_count_clears():
    passed = facts(14, forecast=forecast(p_grade4=0.7, nadir_day=8.0))
    message = kinds(passed)[rules.GRADE4_PREDICTED].message
    assert message.startswith("Nadir window passed without a count") and "around" not in message
    counted = facts(14, forecast=forecast(p_grade4=0.7, nadir_day=8.0), counts=(count(9, "0.7"),))
    assert rules.GRADE4_PREDICTED not in kinds(counted)


def test_nadir_unmonitored_holds_while_the_window_moves_a_little_and_re_arms_only_well_inside():
    moved = forecast(nadir_day=11.2)  # the window is now days 9.2 to 13.2; it is day 9
    assert rules.NADIR_UNMONITORED not in kinds(facts(9, forecast=moved))
    assert rules.NADIR_UNMONITORED in kinds(facts(9, forecast=moved, live_kinds=frozenset({rules.NADIR_UNMONITORED})))
    inside = forecast(nadir_day=10.5)  # window days 8.5 to 12.5; re-arming, only 9.5 to 11.5
    day9 = facts(9, forecast=inside)
    assert rules.NADIR_UNMONITORED in kinds(day9)
    recently = {rules.NADIR_UNMONITORED: day9.now - timedelta(hours=1)}
    assert rules.NADIR_UNMONITORED not in kinds(facts(9, forecast=inside, last_cleared=recently))
    assert rules.NADIR_UNMONITORED in kinds(facts(10, forecast=inside, last_cleared=recently))


def test_a_recovered_past_cycle_is_cleared_by_its_own_counts_not_reopened_by_a_later_cycle():
    over = facts(30, cycle_over=True, counts=(count(9, "0.37"), count(18, "4.16"), count(29, "0.38")))
    grade4 = kinds(over)[rules.GRADE4_OBSERVED]
    assert grade4.cleared_at == DAY1 + timedelta(days=17)
    assert grade4.evidence["recovered_anc_1e9_per_l"] == "4.16"


def test_the_fever_itself_is_not_affected():
    assert rules.FEBRILE_NEUTROPENIA in kinds(facts(9, counts=(count(9, "0.3"),), temperatures=(temp(9, "38.6"),)))


def test_a_live_fn_lasts_after_the_fever_while_the_anc_is_below_05_and_clears_when_it_recovers():
    live = frozenset({rules.FEBRILE_NEUTROPENIA})
    day11 = facts(11, counts=(count(9, "0.3"), count(10.5, "0.35")), temperatures=(temp(9, "38.6"),),
                  live_kinds=live)
    continuing = kinds(day11)[rules.FEBRILE_NEUTROPENIA]
    assert continuing.severity == rules.CRITICAL and continuing.message.startswith("Febrile neutropenia episode")
    assert rules.FEBRILE_NEUTROPENIA not in kinds(facts(11, counts=(count(9, "0.3"), count(10.5, "0.35"))))
    recovered = facts(11, counts=(count(9, "0.3"), count(10.5, "0.62")), live_kinds=live)
    assert rules.FEBRILE_NEUTROPENIA not in kinds(recovered)


# --- A hotter fever in an episode in hand (the safety round, item 2) ----------------------------

SHOWN_FEVER = {"temperature_c": "38.40", "taken_at": "2026-05-18T08:00:00+00:00", "hottest_c": "38.60",
               "hottest_at": "2026-05-18T09:00:00+00:00"}


def fever_now(hottest: str) -> dict:
    return dict(SHOWN_FEVER, hottest_c=hottest, hottest_at="2026-05-18T14:00:00+00:00")


@pytest.mark.parametrize("kind", [rules.FEVER_UNKNOWN_ANC, rules.FEBRILE_NEUTROPENIA])
@pytest.mark.parametrize(("hottest", "words"), [
    ("39.10", "38.60 °C -> 39.10 °C at Mon 18 May 14:00: above 39.0 °C (CTCAE v5.0 fever grade 2)"),
    ("39.00", None),  # 39.0 is still grade 1, and 0.4 °C hotter only
    ("39.10", "above 39.0"),
    ("40.10", "above 40.0 °C (CTCAE v5.0 fever grade 3)"),
    ("38.60", None),
    ("38.50", None),
])
def test_a_hotter_fever_in_hand_is_worse_by_grade_or_by_half_a_degree(kind, hottest, words):
    change = worse(kind, rules.CRITICAL, SHOWN_FEVER, finding(kind, **fever_now(hottest)))
    assert (change is None) if words is None else (words in change)


def test_half_a_degree_hotter_within_grade_1_is_worse():
    shown = dict(SHOWN_FEVER, hottest_c="38.00")
    now = finding(rules.FEVER_UNKNOWN_ANC, **fever_now("38.50"))
    change = worse(rules.FEVER_UNKNOWN_ANC, rules.CRITICAL, shown, now)
    assert change.endswith("0.50 °C hotter")


def test_a_hotter_fever_not_yet_acknowledged_is_refreshed_not_raised_again():
    now = finding(rules.FEVER_UNKNOWN_ANC, **fever_now("40.20"))
    assert worse(rules.FEVER_UNKNOWN_ANC, rules.CRITICAL, SHOWN_FEVER, now, acknowledged=False) is None


def test_a_fever_again_in_a_febrile_neutropenia_episode_kept_after_its_fever_is_worse():
    shown = {"anc_1e9_per_l": "0.30", "collected_at": "2026-05-18T08:00:00+00:00", "episode_continuing": True}
    now = finding(rules.FEBRILE_NEUTROPENIA, anc_1e9_per_l="0.30", **fever_now("38.40"))
    assert worse(rules.FEBRILE_NEUTROPENIA, rules.CRITICAL, shown, now) == (
        "fever again during the episode: 38.40 °C at Mon 18 May 14:00")

"""The "nadir window unmonitored" alert offers the forecast's most informative day for a count."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from monitoring.alerts import rules
from tests.unit.alerts.cycle_facts import DAY1, T, facts, forecast


def unmonitored(cycle_facts: rules.CycleFacts) -> rules.Finding:
    return {f.kind: f for f in rules.evaluate(cycle_facts, T)}[rules.NADIR_UNMONITORED]


def test_unmonitored_nadir_alert_names_the_suggested_day():
    suggestion = (DAY1 + timedelta(days=8)).date()
    found = unmonitored(facts(8, forecast=replace(forecast(), next_fbc_on=suggestion)))
    assert f"{suggestion:%a %d %b}" in found.message


def test_a_suggested_day_already_past_is_offered_as_today():
    found = unmonitored(facts(9, forecast=replace(forecast(), next_fbc_on=date(2026, 5, 12))))
    assert f"{(DAY1 + timedelta(days=8)).date():%a %d %b}" in found.message


def test_without_a_suggestion_the_message_is_unchanged():
    found = unmonitored(facts(8, forecast=forecast()))
    assert "Most informative day" not in found.message

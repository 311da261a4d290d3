"""The fever rules on plain data: febrile neutropenia, fever with unknown neutrophil status, the fever policies."""

from __future__ import annotations

from monitoring.alerts import rules
from tests.unit.alerts.cycle_facts import count, facts, forecast, kinds, point, temp

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

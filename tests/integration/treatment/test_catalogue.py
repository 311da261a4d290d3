"""The shipped regimen catalogue against the forecast priors and the FN-risk sources (issue 11)."""

from __future__ import annotations

import pytest

from monitoring.forecasting import priors

pytestmark = pytest.mark.django_db


def test_every_catalogue_regimen_has_its_own_prior_or_says_it_uses_the_generic_one(regimens):
    for code, regimen in regimens.items():
        prior, warnings = priors.resolve_prior(code, regimen.cycle_length_days, regimen.fn_risk,
                                               tuple(regimen.chemo_days))
        if code in priors.GENERIC_PRIOR_CODES:
            assert prior.generic and warnings, code
        else:
            assert not prior.generic and warnings == [], f"{code} falls back to the generic prior"


def test_the_abvd_prior_is_found_under_the_catalogue_code_with_the_catalogue_schedule(regimens):
    abvd = regimens["ABVD"]
    prior, warnings = priors.resolve_prior(abvd.code, abvd.cycle_length_days, abvd.fn_risk, tuple(abvd.chemo_days))
    assert (prior.code, warnings) == ("ABVD-Q2W", [])
    assert prior.cycle_length_days == 28 and prior.chemo_days == (1, 15)


def test_tc_is_a_high_fn_risk_regimen_with_primary_prophylaxis(regimens):
    tc = regimens["TC-Q3W"]
    assert (tc.fn_risk, tc.gcsf_recommendation) == ("high", "primary")
    assert "NCCN" in tc.source and "> 20 %" in tc.source


def test_only_the_regimens_with_a_46h_fluorouracil_pump_have_an_infusion_after_the_chemotherapy_time(regimens):
    pumps = {code: regimen.infusion_hours for code, regimen in regimens.items() if regimen.infusion_hours}
    assert pumps == {"FOLFOX-Q2W": 46, "FOLFIRINOX-Q2W": 46}
    assert set(pumps) == {code for code, regimen in regimens.items() if "fluorouracil" in regimen.drugs}


def test_the_regimen_admin_shows_the_infusion(client, team, regimens):
    from tests.conftest import make_user

    client.force_login(make_user("boss", [team], role="admin"))
    listing = client.get("/admin/monitoring/regimen/").content.decode()
    assert "Continuous infusion (hours)" in listing
    folfox = client.get(f"/admin/monitoring/regimen/{regimens['FOLFOX-Q2W'].pk}/change/").content.decode()
    assert 'name="infusion_hours" value="46"' in folfox and "e.g. 46 for a 5-FU pump" in folfox

"""`manage.py regimen_outlook`: a catalogue regimen's cycle 1 simulated from its forecast prior."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitoring.forecasting import population_to_dict
from monitoring.forecasting.outlook import prior_for
from monitoring.forecasting.priors import PopulationPrior
from monitoring.models import LearnedPrior, Regimen

pytestmark = pytest.mark.django_db

KEYS = {"regimen", "gcsf", "dose", "n", "grade4_incidence", "dsn_days_mean", "nadir_median",
        "nadir_day_median", "p_ready_next_day1"}


def outlook(code: str, *args: str) -> dict:
    out = io.StringIO()
    call_command("regimen_outlook", code, *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_json_holds_exactly_the_specified_keys(regimens):
    result = outlook("TC-Q3W", "--gcsf", "peg", "--dose", "0.8")

    assert set(result) == KEYS
    assert (result["regimen"], result["gcsf"], result["dose"]) == ("TC-Q3W", "peg", 0.8)
    assert result["n"] >= 1000
    assert 0 <= result["grade4_incidence"] <= 1 and 0 <= result["p_ready_next_day1"] <= 1


@pytest.mark.parametrize("code", ["TC-Q3W", "DOCETAXEL-100-Q3W", "TAC-Q3W"])
def test_gcsf_lowers_grade4_and_shortens_severe_neutropenia(regimens, code):
    without = outlook(code)
    for gcsf in ("peg", "filgrastim"):
        with_gcsf = outlook(code, "--gcsf", gcsf)
        assert with_gcsf["grade4_incidence"] < without["grade4_incidence"] - 0.1
        # The trials' primary endpoint: G-CSF cuts the days below 0.5 by about half or more.
        assert with_gcsf["dsn_days_mean"] < 0.6 * without["dsn_days_mean"]
        assert with_gcsf["nadir_median"] > without["nadir_median"]


def test_a_reduced_dose_lowers_grade4_and_severe_neutropenia(regimens):
    full, reduced = outlook("DOCETAXEL-100-Q3W"), outlook("DOCETAXEL-100-Q3W", "--dose", "0.8")

    assert reduced["grade4_incidence"] < full["grade4_incidence"]
    assert reduced["dsn_days_mean"] < full["dsn_days_mean"]
    assert reduced["nadir_median"] > full["nadir_median"]


def test_uses_the_regimens_learned_prior_when_it_has_one(regimens):
    regimen = Regimen.objects.get(code="TC-Q3W")
    literature = outlook("TC-Q3W")
    prior = prior_for("TC-Q3W", 21)
    mean = prior.log_mean()
    mean[2] -= 1.0   # this clinic's patients are far less sensitive than the literature's
    learned = PopulationPrior(key="TC-Q3W/21d", log_mean=mean, log_sd=np.array(prior.log_sd()) * 0.8,
                              patients=40, informative=30)
    LearnedPrior.objects.create(regimen=regimen, parameters=population_to_dict(learned), patients=40,
                                informative=30, learned_at=timezone.now())

    result = outlook("TC-Q3W")
    text = io.StringIO()
    call_command("regimen_outlook", "TC-Q3W", stdout=text)

    assert result["grade4_incidence"] < literature["grade4_incidence"] - 0.2
    assert "from the learned prior" in text.getvalue()


def test_text_output_names_each_figure(regimens):
    out = io.StringIO()
    call_command("regimen_outlook", "tc-q3w", "--gcsf", "filgrastim", stdout=out)

    text = out.getvalue()
    assert text.startswith("TC-Q3W, cycle 1, G-CSF filgrastim")
    for key in ("grade4_incidence", "dsn_days_mean", "nadir_median", "nadir_day_median", "p_ready_next_day1"):
        assert key in text


def test_unknown_code_and_bad_dose_are_refused_in_words(regimens):
    with pytest.raises(CommandError, match="no regimen with code 'NOPE-Q3W'"):
        call_command("regimen_outlook", "NOPE-Q3W")
    with pytest.raises(CommandError, match="--dose must be a fraction"):
        call_command("regimen_outlook", "TC-Q3W", "--dose", "0")

"""Regimen priors learned from the clinic's own patients: stored, used by recomputes, kept fresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from monitoring import forecasts
from monitoring.forecasting.population import MIN_PATIENTS
from monitoring.models import Cycle, LearnedPrior, Patient, Regimen
from tests.conftest import make_patient, record_anc, start_on_regimen

pytestmark = pytest.mark.django_db


def folfox_patients(team, how_many: int, first: int = 0) -> list[Cycle]:
    """Patients 10 days into FOLFOX cycle 1 whose day-8 counts are far below FOLFOX's usual nadir."""
    regimen = Regimen.objects.get(code="FOLFOX-Q2W")
    cycles = []
    for i in range(first, first + how_many):
        patient = make_patient(team, mrn=f"MRN{i:03d}")
        cycle = start_on_regimen(patient, regimen, days_ago=10)
        record_anc(patient, cycle.day1 - timedelta(hours=2), f"{4.2 + 0.1 * (i % 7):.2f}")
        record_anc(patient, cycle.day1 + timedelta(days=7, hours=2), f"{0.25 + 0.03 * (i % 5):.2f}")
        cycles.append(cycle)
    return cycles


def newcomer(team) -> Cycle:
    patient = make_patient(team, mrn="NEW001")
    cycle = start_on_regimen(patient, Regimen.objects.get(code="FOLFOX-Q2W"), days_ago=0.5)
    record_anc(patient, cycle.day1 - timedelta(hours=2), "4.5")
    return cycle


def test_learned_prior_is_stored_and_used_by_the_next_recompute(regimens, team, django_capture_on_commit_callbacks):
    cycles = folfox_patients(team, MIN_PATIENTS)
    new = newcomer(team)
    before = forecasts.recompute_cycle(new.pk)
    versions = dict(Cycle.objects.values_list("pk", "input_version"))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        learned = forecasts.learn_regimen_priors()

    # The newcomer is one of the patients, but has no count after a dose yet.
    assert learned == {"FOLFOX-Q2W": MIN_PATIENTS + 1}
    prior = LearnedPrior.objects.get(regimen__code="FOLFOX-Q2W")
    assert (prior.patients, prior.informative) == (MIN_PATIENTS + 1, MIN_PATIENTS)
    assert len(callbacks) == 1  # one enqueue of every affected cycle, after commit
    for cycle in [*cycles, new]:
        assert Cycle.objects.get(pk=cycle.pk).input_version == versions[cycle.pk] + 1

    after = forecasts.recompute_cycle(new.pk)
    assert any("learned from" in warning for warning in after.warnings)
    assert not any("learned from" in warning for warning in before.warnings)
    # The clinic's FOLFOX patients fall far lower than the literature says; so will the newcomer.
    assert after.nadir_anc_1e9_per_l < before.nadir_anc_1e9_per_l
    assert after.p_grade4 > before.p_grade4


def test_unchanged_counts_learn_the_same_prior_and_stale_nothing(regimens, team, django_capture_on_commit_callbacks):
    folfox_patients(team, MIN_PATIENTS)
    forecasts.learn_regimen_priors()
    learned_at = LearnedPrior.objects.get().learned_at
    versions = dict(Cycle.objects.values_list("pk", "input_version"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        forecasts.learn_regimen_priors(now=timezone.now())
    assert LearnedPrior.objects.get().learned_at == learned_at
    assert dict(Cycle.objects.values_list("pk", "input_version")) == versions
    assert callbacks == []


def test_too_few_patients_keep_the_literature_prior_and_lose_a_learned_one(regimens, team, capsys):
    folfox_patients(team, MIN_PATIENTS - 1)
    call_command("learn_priors")
    assert "literature priors kept" in capsys.readouterr().out
    assert not LearnedPrior.objects.exists()

    folfox_patients(team, 1, first=MIN_PATIENTS)
    call_command("learn_priors")
    assert f"FOLFOX-Q2W: prior learned from {MIN_PATIENTS} patients" in capsys.readouterr().out
    assert LearnedPrior.objects.filter(regimen__code="FOLFOX-Q2W").exists()

    Patient.objects.filter(mrn="MRN000").delete()
    forecasts.learn_regimen_priors()
    assert not LearnedPrior.objects.exists()

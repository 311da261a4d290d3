"""A catalogue regimen's cycle-1 outlook from its forecast prior (``regimen_outlook`` command)."""

from __future__ import annotations

from monitoring.forecasting import population_from_dict
from monitoring.forecasting.outlook import OUTLOOK_PATIENTS, prior_for, regimen_outlook
from monitoring.models import LearnedPrior, Regimen

OUTLOOK_KEYS = ("grade4_incidence", "dsn_days_mean", "nadir_median", "nadir_day_median", "p_ready_next_day1")


class UnknownRegimen(LookupError):
    """No catalogue regimen has this code."""


def outlook_for_code(code: str, gcsf: str = "none", dose: float = 1.0,
                     patients: int = OUTLOOK_PATIENTS) -> dict:
    """Return the cycle-1 outlook of the catalogue regimen ``code`` (learned prior if it has one).

    Raise UnknownRegimen for a code the catalogue does not hold.
    """
    regimen = Regimen.objects.filter(code__iexact=code.strip()).first()
    if regimen is None:
        raise UnknownRegimen(code)
    prior = prior_for(regimen.code, float(regimen.cycle_length_days), regimen.fn_risk,
                      tuple(regimen.chemo_days) or None)
    try:
        population = population_from_dict(regimen.learned_prior.parameters)
    except LearnedPrior.DoesNotExist:
        population = None
    result = regimen_outlook(prior, population, gcsf=gcsf, dose=dose,
                             threshold=float(regimen.next_cycle_anc_1e9_per_l), patients=patients)
    return {**result, "regimen": regimen.code}

"""Population priors for the myelosuppression model, one per regimen code, with sources.

Each prior holds typical values and the spread of individual log-parameters. The spread is the
inter-individual variability (IIV) reported for published Friberg-type fits, widened by the
uncertainty of the typical value itself (``TYPICAL_VALUE_SD``), because published typical values
differ between studies and populations and the forecast must hold for a new population too.

Drug potency is stated the way clinicians know a regimen: the ``typical_nadir`` of a typical patient
(baseline 5 x10^9/L, first cycle, no G-CSF), read from grade 3/4 neutropenia rates in the pivotal
trials and labels. The model's kill parameter is derived from it on first use (``typical_kill``), so
no potency constant is fitted to any benchmark cohort.

Sources of system parameters:
- Friberg LE et al., J Clin Oncol 2002;20:4713 (docetaxel ANC: Circ0 5.05, MTT 88.7 h, gamma 0.161;
  paclitaxel WBC: MTT 124 h, gamma 0.239, IIV 34/17/44 %; MTT 89-135 h across six drugs).
- Kloft C et al., Clin Cancer Res 2006;12:5481 (docetaxel ANC: Circ0 5.22, MTT 84.2 h, gamma 0.145,
  IIV base 26 %, MTT 14 %, slope 37 %, residual 0.42 SD on log ANC), as used by Netterberg I et al.,
  Clin Pharmacol Ther 2017;102:314 for forecasting.
- Jacqmin P et al., J Pharmacokinet Pharmacodyn 2007;34:57 (K-PD: drug effect from a virtual dose
  compartment; elimination half-life of the effect compartment estimated, hours to a day).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from .gcsf import gcsf_plan
from .model import build_schedule, simulate

PARAMETERS = ("circ0", "mtt_h", "kill", "gamma", "gpot")

# Residual error (likelihood only): proportional on the log scale plus an additive part in
# x10^9/L for low counts, where automated differentials are least precise. The log-scale SD sits at
# the low end of the published 0.2-0.42 (Friberg 2002, Kloft 2006), whose upper values also absorb
# model misspecification that the wide IIV here already carries.
RESIDUAL_LOG_SD = 0.22
RESIDUAL_ADDITIVE = 0.05
# The residual SD is not fixed: each patient's is learned from their counts (a log-normal prior
# around RESIDUAL_LOG_SD, 80 % range about 0.14-0.35), and a regimen's learned prior moves its centre
# (``PopulationPrior.residual_log_sd``). Real labs are noisier than the textbook 20 % and send the
# occasional clotted or mislabelled sample, so the likelihood is an outlier mixture on the log scale:
# a share OUTLIER_SHARE of counts may be off by a factor of about exp(OUTLIER_LOG_SD), and one such
# count cannot drag the whole fit. (A Student-t with 4 degrees of freedom, tried first, also
# discounted the deep nadir counts the model fits loosely and biased nadirs upwards by ~30 %.)
RESIDUAL_SPREAD = 0.35
OUTLIER_SHARE = 0.03
OUTLIER_LOG_SD = 1.5

# Inter-occasion variability (IOV): a patient's drug sensitivity differs from cycle to cycle, in
# published Friberg-type fits by about 15-30 % (IOV terms on the slope, e.g. in the models collected
# in nlmixr2lib; verify the exact estimates), the transit time less so. The forecast cycle gets its
# own sensitivity, so its own counts are believed over the earlier cycles'. (The model can also take
# a transit-time factor per cycle, ``model.Occasion.mtt_factor``; it is not sampled: one more
# dimension for the sampler cost more accuracy than the smaller effect bought.) The factor has
# a Student-t tail (IOV_KILL_DF) so a cycle that really departs (an infection, a drug interaction, a
# dosing error) can be followed. Earlier cycles' IOV enters their counts' residual (see engine).
IOV_KILL_SD = 0.2
IOV_KILL_DF = 2.0

# Cumulative marrow damage: the baseline falls by a few % of the proliferating pool per full dose in
# many patients (a common extension of the Friberg model). Log-normal prior on the fraction lost per
# dose, median 1 %, 80 % range about 0.3-3.6 % (a patient's pre-dose counts can move it further).
DAMAGE_MEDIAN = 0.01
DAMAGE_SPREAD = 1.0

# Typical G-CSF potency (gpot, the maximal relative rise in proliferation), calibrated to the
# published G-CSF arms (docs/forecasting.md, "Checked against published trial arms"). It was 0.3,
# which gave pegfilgrastim on day 2 almost no effect (TC q3w P(grade 4) 0.56 without, 0.51 with;
# duration of severe neutropenia, DSN, 2.7 vs 2.2 days), whereas the trials cut DSN by two-thirds or
# more (doxorubicin/docetaxel with pegfilgrastim: mean DSN 1.7-1.8 days in cycle 1 against an expected
# 5-7 without, Holmes FA et al., J Clin Oncol 2002;20:727; Green MD et al., Ann Oncol 2003;14:29;
# filgrastim: median DSN 6 -> 1 day, Crawford J et al., N Engl J Med 1991;325:164) and febrile
# neutropenia 17 % -> 1 % on docetaxel 100 mg/m2 (Vogel CL et al., J Clin Oncol 2005;23:1178). At 2.0
# (with G-CSF acting on proliferation only, not on the kill, see model.simulate) the outlook gives TAC
# DSN 4.5 -> 1.9 days, docetaxel 100 P(grade 4) 0.70 -> 0.35.
# The response differs between patients by an order of magnitude (post-G-CSF peaks from about 5 to
# over 50 x10^9/L), so its spread (log scale) is wide: 2.0, what the nadir-bench tuning cohort's
# pegfilgrastim arm learns when its prior is left free (log SD 1.9-2.3), and with it the cohort's
# forecasts improve (docs/forecasting.md). A patient responding 13 times less than the typical
# (gpot 0.15) is then 1.3 SD out, not 2.2; the patient's own counts after earlier doses and a
# regimen's learned prior set it (tests/unit/test_gcsf_regimens.py). A regimen always given with
# G-CSF states its typical nadir with it (``RegimenPrior.usual_gcsf``), so the stronger typical
# effect does not make the forecast of a patient on that schedule shallower; it makes the "without
# G-CSF" counterfactual deeper.
GPOT_TYPICAL = 2.0
GPOT_SD = 2.0

# Extra log-scale SD for uncertainty of the typical value on top of IIV (known regimen / generic).
TYPICAL_VALUE_SD = {"known": {"circ0": 0.1, "mtt_h": 0.1, "kill": 0.25, "gamma": 0.2},
                    "generic": {"circ0": 0.15, "mtt_h": 0.25, "kill": 0.6, "gamma": 0.3}}

# Grade 3/4 rates map to a typical nadir through the lognormal spread of the nadir across patients.
# Generic typical nadirs by NCCN FN-risk category (CLINICAL.md table): high-risk regimens usually give
# grade 4 in most patients, intermediate ones grade 3-4 in about half, low-risk ones seldom grade 4.
GENERIC_TYPICAL_NADIR = {"high": 0.3, "intermediate": 0.7, "low": 1.4, "unknown": 0.7}


@dataclass(frozen=True)
class RegimenPrior:
    """Typical values and log-scale spreads for one regimen."""

    code: str
    typical_nadir: float          # x10^9/L, typical patient, first cycle, on ``usual_gcsf``
    circ0: float = 5.0            # x10^9/L
    mtt_h: float = 105.0          # mean transit time, hours
    gamma: float = 0.17           # feedback exponent
    kde_half_life_h: float = 12.0  # K-PD effect compartment half-life
    infusion_h: float = 0.0       # long infusion spread over this many hours (5-FU 46 h)
    chemo_days: tuple[int, ...] = (1,)
    cycle_length_days: float = 21.0
    iiv: dict[str, float] = field(default_factory=lambda: {
        "circ0": 0.3, "mtt_h": 0.18, "kill": 0.4, "gamma": 0.2})
    generic: bool = False
    source: str = ""
    # The G-CSF schedule the regimen is given with in the trials its ``typical_nadir`` comes from
    # ("none", "peg", "filgrastim"; see gcsf.py). The kill is calibrated with it on board, so a
    # regimen always given with G-CSF keeps its published nadir with G-CSF, and its "without G-CSF"
    # counterfactual is as much deeper as the G-CSF effect says.
    usual_gcsf: str = "none"

    def log_sd(self) -> np.ndarray:
        """Return the prior SD of each log-parameter (IIV and typical-value uncertainty)."""
        extra = TYPICAL_VALUE_SD["generic" if self.generic else "known"]
        sds = [np.hypot(self.iiv[name], extra[name]) for name in PARAMETERS[:4]]
        return np.array([*sds, GPOT_SD])

    def log_mean(self) -> np.ndarray:
        """Return the prior mean of each log-parameter."""
        kill = typical_kill(self.mtt_h, self.gamma, self.kde_half_life_h, self.infusion_h,
                            self.chemo_days, self.cycle_length_days, self.typical_nadir,
                            self.usual_gcsf, GPOT_TYPICAL)
        return np.log([self.circ0, self.mtt_h, kill, self.gamma, GPOT_TYPICAL])


_DOCETAXEL = {"circ0": 5.22, "mtt_h": 84.2, "gamma": 0.145, "kde_half_life_h": 8.0,
              "iiv": {"circ0": 0.26, "mtt_h": 0.14, "kill": 0.37, "gamma": 0.2}}
_PACLITAXEL = {"circ0": 5.0, "mtt_h": 124.0, "gamma": 0.239, "kde_half_life_h": 12.0,
               "iiv": {"circ0": 0.34, "mtt_h": 0.17, "kill": 0.44, "gamma": 0.2}}

REGIMEN_PRIORS: dict[str, RegimenPrior] = {p.code: p for p in [
    RegimenPrior("DOCETAXEL-75-Q3W", typical_nadir=0.45, **_DOCETAXEL,
                 source="Kloft 2006 system parameters; grade 4 neutropenia about 65 % at 75 mg/m2 "
                        "(Taxotere label, TAX 317) puts the typical nadir just below 0.5"),
    RegimenPrior("DOCETAXEL-100-Q3W", typical_nadir=0.25, **_DOCETAXEL,
                 source="Kloft 2006; grade 4 neutropenia about 75-85 % at 100 mg/m2 (Taxotere label)"),
    RegimenPrior("TC-Q3W", typical_nadir=0.4, **_DOCETAXEL,
                 source="docetaxel system parameters (Kloft 2006); cyclophosphamide 600 mg/m2 deepens "
                        "the docetaxel 75 nadir; grade 3/4 neutropenia 61 % without G-CSF "
                        "(Jones S et al., J Clin Oncol 2006;24:5381)"),
    RegimenPrior("TC-Q3W-PEG", typical_nadir=0.46, usual_gcsf="peg", **_DOCETAXEL,
                 source="TC q3w always given with pegfilgrastim on day 2: the typical nadir is stated "
                        "with it, kept at what the engine forecast for a typical patient on TC with "
                        "pegfilgrastim before the G-CSF recalibration (0.46, from TC's 0.4 without "
                        "G-CSF; docs/forecasting.md). Published arms differ (grade 4 16.7 % with "
                        "pegfilgrastim, Jeon 2021, counts not daily; very deep TC nadirs in Japanese "
                        "patients, Kosaka 2015): the clinic's learned prior decides"),
    RegimenPrior("TAC-Q3W", typical_nadir=0.2, **{**_DOCETAXEL, "mtt_h": 90.0},
                 source="docetaxel-dominated timing (Kloft 2006, MTT nudged for doxorubicin); grade 3/4 "
                        "neutropenia about 65 % even with G-CSF use, FN 25 % (Martin M et al., "
                        "N Engl J Med 2005;352:2302): high FN-risk, deep typical nadir"),
    RegimenPrior("AC-Q3W", typical_nadir=0.85, mtt_h=110.0, gamma=0.17, kde_half_life_h=12.0,
                 source="Friberg 2002 system range (MTT 89-135 h) fitted to the day 10-14 AC nadir; "
                        "grade 3/4 neutropenia 55 % (Jones 2006), FN risk intermediate"),
    RegimenPrior("DDAC-Q2W", typical_nadir=0.85, mtt_h=110.0, gamma=0.17, cycle_length_days=14.0,
                 source="same doses as AC q3w given every 14 days with G-CSF (Citron ML et al., "
                        "J Clin Oncol 2003;21:1431); per-dose potency as AC-Q3W"),
    RegimenPrior("PACLITAXEL-WEEKLY", typical_nadir=2.6, **_PACLITAXEL, cycle_length_days=7.0,
                 source="Friberg 2002 paclitaxel system parameters; 80 mg/m2 weekly gives grade 3/4 "
                        "neutropenia in about 10-20 % over a course (Sparano JA et al., N Engl J Med "
                        "2008;358:1663): mild per-dose effect that accumulates"),
    RegimenPrior("CARBO-PACLI-Q3W", typical_nadir=0.8, **_PACLITAXEL,
                 source="paclitaxel system parameters (Friberg 2002); carboplatin AUC 5-6 with "
                        "paclitaxel 175-200 mg/m2: grade 3/4 neutropenia about 50-65 %"),
    RegimenPrior("GEM-CARBO-D1D8", typical_nadir=0.8, mtt_h=110.0, gamma=0.17, chemo_days=(1, 8),
                 source="gemcitabine day 1 and 8 with carboplatin day 1: grade 3/4 neutropenia about "
                        "50-60 %, nadir later (after the day-8 dose); generic system parameters"),
    RegimenPrior("FOLFOX-Q2W", typical_nadir=1.3, mtt_h=110.0, gamma=0.17, infusion_h=46.0,
                 cycle_length_days=14.0,
                 source="FOLFOX4: grade 3/4 neutropenia 41 %, grade 4 about 12 % (Andre T et al., "
                        "N Engl J Med 2004;350:2343); 5-FU infused over 46 h"),
    RegimenPrior("FOLFIRINOX-Q2W", typical_nadir=0.9, mtt_h=110.0, gamma=0.17, infusion_h=46.0,
                 cycle_length_days=14.0,
                 source="grade 3/4 neutropenia 46 % with some G-CSF use (Conroy T et al., N Engl J Med "
                        "2011;364:1817); high FN-risk category"),
    RegimenPrior("R-CHOP-21", typical_nadir=0.7, mtt_h=105.0, gamma=0.17,
                 source="grade 3/4 neutropenia about 50-60 % without primary G-CSF (Pfreundschuh M "
                        "et al., Lancet Oncol 2008;9:105); generic system parameters"),
    RegimenPrior("CHOP-14", typical_nadir=0.7, mtt_h=105.0, gamma=0.17, cycle_length_days=14.0,
                 source="CHOP doses as R-CHOP-21, every 14 days with G-CSF (Pfreundschuh M et al., "
                        "Blood 2004;104:626)"),
    RegimenPrior("ABVD-Q2W", typical_nadir=0.9, mtt_h=100.0, gamma=0.17, cycle_length_days=14.0,
                 source="ABVD: grade 3/4 neutropenia frequent but brief, FN rare, usually no G-CSF "
                        "(Boleti E et al., Ann Oncol 2007;18:376; verify); generic system parameters"),
]}

# Codes used by nadir-bench, the app's regimen catalogue (monitoring/migrations/0002) and other
# sources for the same regimens. ABVD is given on days 1 and 15 of a 28-day cycle: the
# catalogue calls it "ABVD", its prior describes one dose every 14 days ("ABVD-Q2W"); the
# catalogue's cycle length and chemo days replace the prior's (resolve_prior).
ALIASES = {
    "ABVD": "ABVD-Q2W",
    "AC-60-600-Q3W": "AC-Q3W",
    "TC-75-600-Q3W": "TC-Q3W",
    "TC-75-600-Q3W-PEG": "TC-Q3W-PEG",
    "DOCETAXEL-75": "DOCETAXEL-75-Q3W",
    "DOCETAXEL-100": "DOCETAXEL-100-Q3W",
    "DD-AC-Q2W": "DDAC-Q2W",
    "RCHOP-21": "R-CHOP-21",
    "FOLFOX4-Q2W": "FOLFOX-Q2W",
    "MFOLFOX6-Q2W": "FOLFOX-Q2W",
}


# Catalogue codes that knowingly use the generic prior of their FN-risk category (none today):
# every catalogue entry either resolves to a prior above or is listed here (a test checks it).
GENERIC_PRIOR_CODES: frozenset[str] = frozenset()


def known_regimen_codes() -> list[str]:
    """Return the regimen codes that have their own prior (aliases not included)."""
    return sorted(REGIMEN_PRIORS)


def generic_prior(code: str, cycle_length_days: float, fn_risk: str, chemo_days: tuple[int, ...]) -> RegimenPrior:
    """Build a prior for an unknown regimen from its cycle length, FN risk and dose schedule.

    System parameters are the middle of the Friberg 2002 range across drugs; potency comes from the
    FN-risk category; every spread is wider than for a known regimen.
    """
    risk = fn_risk if fn_risk in GENERIC_TYPICAL_NADIR else "unknown"
    return RegimenPrior(code=code or "GENERIC", typical_nadir=GENERIC_TYPICAL_NADIR[risk], mtt_h=105.0,
                        gamma=0.17, kde_half_life_h=12.0, chemo_days=chemo_days,
                        cycle_length_days=cycle_length_days,
                        iiv={"circ0": 0.3, "mtt_h": 0.2, "kill": 0.5, "gamma": 0.25}, generic=True,
                        source=f"generic prior: Friberg 2002 system parameters, FN risk '{risk}'")


def resolve_prior(code: str, cycle_length_days: float, fn_risk: str,
                  chemo_days: tuple[int, ...] | None) -> tuple[RegimenPrior, list[str]]:
    """Return the prior for a regimen code and any warnings about how it was chosen."""
    key = (code or "").strip().upper()
    key = ALIASES.get(key, key)
    prior = REGIMEN_PRIORS.get(key)
    if prior is None:
        prior = generic_prior(code, cycle_length_days, fn_risk, chemo_days or (1,))
        warning = (f"regimen '{code}' has no prior; using a generic prior from cycle length "
                   f"{cycle_length_days:g} d, FN risk '{fn_risk}' and the dose schedule")
        return prior, [warning]
    changes = {"cycle_length_days": cycle_length_days}
    if chemo_days:
        changes["chemo_days"] = chemo_days
    return replace(prior, **changes), []


@lru_cache(maxsize=256)
def typical_kill(mtt_h: float, gamma: float, kde_half_life_h: float, infusion_h: float,
                 chemo_days: tuple[int, ...], cycle_length_days: float, typical_nadir: float,
                 usual_gcsf: str = "none", gpot: float = 0.0) -> float:
    """Return the kill that gives the typical patient the typical nadir in a first cycle.

    The typical patient is given ``usual_gcsf`` with G-CSF potency ``gpot`` (none: no G-CSF).
    """
    candidates = np.geomspace(0.05, 40.0, 160)
    ones = np.ones_like(candidates)
    dose_hours = [(day - 1) * 24.0 for day in chemo_days]
    gcsf_hours, gcsf_products = gcsf_plan(usual_gcsf, infusion_h=infusion_h)
    schedule = build_schedule(dose_hours, [1.0] * len(dose_hours), infusion_h, np.log(2) / kde_half_life_h,
                              gcsf_hours, gcsf_products, cycle_length_days * 24.0)
    circ = simulate(5.0 * ones, mtt_h * ones, candidates, gamma * ones, gpot * ones, schedule)
    in_cycle = (schedule.grid_h >= 0) & (schedule.grid_h <= cycle_length_days * 24.0)
    nadirs = circ[in_cycle].min(axis=0)
    # Nadir falls as kill rises; interpolate log kill against log nadir.
    order = np.argsort(nadirs)
    kill = np.exp(np.interp(np.log(typical_nadir), np.log(nadirs[order]), np.log(candidates[order])))
    return float(kill)


@dataclass(frozen=True)
class PopulationPrior:
    """A regimen prior learned from the counts of many patients on it (see ``population.py``).

    ``log_mean`` and ``log_sd`` are over the log-parameters in ``PARAMETERS`` order; the SD holds
    the learned inter-individual spread plus the uncertainty of the learned typical value.
    """

    key: str
    log_mean: np.ndarray
    log_sd: np.ndarray
    patients: int
    informative: int
    residual_log_sd: float | None = None   # the regimen's typical residual SD (log scale), if learned
    iov_kill_sd: float | None = None       # the regimen's cycle-to-cycle variability of sensitivity, if learned
    departure_share: float | None = None   # share of its patients whose counts depart from the textbook fit
    cycle_iov: float | None = None         # its IOV as the differences between patients' cycles show it

    def describe(self) -> str:
        return (f"regimen prior learned from {self.patients} patients on '{self.key}' "
                f"({self.informative} with counts after a dose)")

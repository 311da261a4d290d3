"""G-CSF products, doses and timing relative to chemotherapy (product labels, ASCO 2015)."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from monitoring.clinical.thresholds import (
    EVERY_2_WEEKS_INTERVAL_DAYS,
    PEGFILGRASTIM_AFTER_PUMP_DAY_SLACK,
    PEGFILGRASTIM_NOT_AFTER_CHEMO,
    PEGFILGRASTIM_NOT_BEFORE_CHEMO,
    PEGFILGRASTIM_NOT_BEFORE_CHEMO_EVERY_2_WEEKS,
)
from monitoring.clinical.units import ClinicalValueError

# --- G-CSF products -----------------------------------------------------------------------
# Matched by ingredient, so biosimilars (filgrastim-sndz, -aafi, -ayow; pegfilgrastim-jmdb ...)
# and brand names map to the same product. ATC: L03AA02 filgrastim, L03AA13 pegfilgrastim,
# L03AA14 lipegfilgrastim.
FILGRASTIM = "filgrastim"
PEGFILGRASTIM = "pegfilgrastim"
LIPEGFILGRASTIM = "lipegfilgrastim"
GCSF_PRODUCT_CHOICES = [
    (FILGRASTIM, "Filgrastim (daily, short-acting)"),
    (PEGFILGRASTIM, "Pegfilgrastim (once per cycle)"),
    (LIPEGFILGRASTIM, "Lipegfilgrastim (once per cycle)"),
]
GCSF_ATC = {"L03AA02": FILGRASTIM, "L03AA13": PEGFILGRASTIM, "L03AA14": LIPEGFILGRASTIM}
_GCSF_BRANDS = {
    "neupogen": FILGRASTIM, "zarxio": FILGRASTIM, "nivestym": FILGRASTIM, "releuko": FILGRASTIM,
    "zarzio": FILGRASTIM, "nivestim": FILGRASTIM, "granix": FILGRASTIM, "tbo-filgrastim": FILGRASTIM,
    "neulasta": PEGFILGRASTIM, "fulphila": PEGFILGRASTIM, "udenyca": PEGFILGRASTIM,
    "ziextenzo": PEGFILGRASTIM, "nyvepria": PEGFILGRASTIM, "fylnetra": PEGFILGRASTIM,
    "stimufend": PEGFILGRASTIM, "lonquex": LIPEGFILGRASTIM,
}


# Plausible single G-CSF doses, shared by the form and the importers: filgrastim 5 ug/kg/day
# (up to 10 ug/kg for mobilisation: about 1,200 ug at 120 kg), pegfilgrastim 6 mg, lipegfilgrastim
# 6 mg (product labels). Outside 10 ug - 20 mg it is a unit or typing error (99,999 mg is not a dose).
GCSF_DOSE_MIN_UG = Decimal("10")
GCSF_DOSE_MAX_UG = Decimal("20000")
GCSF_DOSE_UNITS_UG = {"ug": Decimal(1), "mg": Decimal(1000)}


def check_gcsf_dose(dose: Decimal, unit: str) -> Decimal:
    """Return the dose if it is positive and plausible in its unit (ug or mg), else raise."""
    if dose <= 0:
        raise ClinicalValueError("the dose must be more than zero")
    dose_ug = dose * GCSF_DOSE_UNITS_UG.get(unit, Decimal(1))
    if not GCSF_DOSE_MIN_UG <= dose_ug <= GCSF_DOSE_MAX_UG:
        raise ClinicalValueError(f"{dose} {unit} is not a plausible G-CSF dose (10 ug to 20 mg)")
    if dose.as_tuple().exponent < -2:
        raise ClinicalValueError(f"{dose} {unit} has more than 2 decimal places")
    return dose


def gcsf_product(name_or_code: str) -> str:
    """Return the G-CSF ingredient for a product name, biosimilar, brand or ATC code."""
    text = (name_or_code or "").strip().lower()
    if text.upper() in GCSF_ATC:
        return GCSF_ATC[text.upper()]
    # Longest ingredient first: "pegfilgrastim" contains "filgrastim".
    for ingredient in (LIPEGFILGRASTIM, PEGFILGRASTIM, FILGRASTIM):
        if text.startswith(ingredient) or f" {ingredient}" in f" {text}":
            return ingredient
    for brand, ingredient in _GCSF_BRANDS.items():
        if brand in text:
            return ingredient
    raise ClinicalValueError(f"{name_or_code!r} is not a G-CSF product NeutroWatch knows")


def is_long_acting(product: str) -> bool:
    """Return True for once-per-cycle pegylated G-CSF."""
    return product in (PEGFILGRASTIM, LIPEGFILGRASTIM)


def chemo_interval_days(cycle_length_days: int, chemo_days: list[int]) -> int:
    """Return the shortest interval in days between a regimen's chemotherapy days, across cycles."""
    days = sorted(set(chemo_days or [1]))
    gaps = [later - earlier for earlier, later in zip(days, days[1:])]
    return min([*gaps, cycle_length_days - days[-1] + days[0]])


def chemo_end(chemo_at: datetime, infusion_hours: int = 0) -> datetime:
    """Return when chemotherapy recorded at `chemo_at` ends: after its continuous infusion, if any.

    The G-CSF windows "after chemotherapy" (FILGRASTIM_NOT_AFTER_CHEMO, PEGFILGRASTIM_NOT_AFTER_CHEMO,
    GCSF_DUE_AFTER_CHEMO) count from here; the windows "before" count from `chemo_at`.
    """
    return chemo_at + timedelta(hours=infusion_hours)


def pegfilgrastim_not_before_chemo(interval_days: int | None, infusion_hours: int = 0) -> timedelta:
    """Return how long before chemotherapy pegfilgrastim is not given, for a regimen's dose interval.

    Every 2 weeks: NCCN's 12 days, or with a continuous infusion what the schedule leaves after the
    label's earliest day (PEGFILGRASTIM_AFTER_PUMP_DAY_SLACK above); otherwise (or unknown) the
    label's 14 days.
    """
    shortest, longest = EVERY_2_WEEKS_INTERVAL_DAYS
    if interval_days is None or not shortest <= interval_days <= longest:
        return PEGFILGRASTIM_NOT_BEFORE_CHEMO
    if not infusion_hours:
        return PEGFILGRASTIM_NOT_BEFORE_CHEMO_EVERY_2_WEEKS
    left = (timedelta(days=interval_days) - timedelta(hours=infusion_hours) - PEGFILGRASTIM_NOT_AFTER_CHEMO
            - PEGFILGRASTIM_AFTER_PUMP_DAY_SLACK)
    return min(PEGFILGRASTIM_NOT_BEFORE_CHEMO_EVERY_2_WEEKS, timedelta(days=max(left.days, 0)))

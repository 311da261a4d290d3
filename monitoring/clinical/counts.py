"""A blood count as entered: validated, converted to 10^9/L, ready to store (pure; no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from monitoring.clinical.thresholds import MAX_PLAUSIBLE_ANC
from monitoring.clinical.units import (
    QUALIFIER_ABOVE,
    QUALIFIER_BELOW,
    ClinicalValueError,
    anc_from_differential,
    count_to_1e9_per_l,
    normalise_count_unit,
)


@dataclass(frozen=True)
class CountInput:
    """A validated blood count in canonical units, ready to store."""

    collected_at: datetime
    anc_1e9_per_l: Decimal
    anc_computed: bool
    entered_value: str
    entered_unit: str
    wbc_1e9_per_l: Decimal | None = None
    neutrophil_pct: Decimal | None = None
    band_pct: Decimal | None = None
    accession: str = ""
    lln_1e9_per_l: Decimal | None = None
    qualifier: str = ""  # "<" / ">": a censored lab value, stored as its bound and graded from it
    platelets_1e9_per_l: Decimal | None = None


def parse_count(
    *,
    collected_at: datetime,
    unit: str,
    anc: Decimal | None = None,
    wbc: Decimal | None = None,
    neutrophil_pct: Decimal | None = None,
    band_pct: Decimal | None = None,
    accession: str = "",
    lln: Decimal | None = None,
    qualifier: str = "",
    platelets: Decimal | None = None,
    platelets_unit: str = "",
) -> CountInput:
    """Validate a count as entered and return it in 10^9/L, or raise ClinicalValueError.

    Either the ANC is given, or a WBC with the neutrophil % (and optionally band %),
    from which the ANC is computed. When both are given they must agree that ANC <= WBC.
    A censored value ("<0.1") comes as its bound with `qualifier` "<" or ">". Platelets, if given,
    are in `platelets_unit` (by default the count's unit) and stored in 10^9/L like the ANC.
    """
    if qualifier not in ("", QUALIFIER_BELOW, QUALIFIER_ABOVE):
        raise ClinicalValueError(f"unknown qualifier {qualifier!r}: use <, > or nothing")
    canonical_unit = normalise_count_unit(unit)
    wbc_1e9 = count_to_1e9_per_l(wbc, canonical_unit, what="WBC") if wbc is not None else None
    if anc is not None:
        anc_1e9 = count_to_1e9_per_l(anc, canonical_unit)
        computed, entered = False, anc
        if neutrophil_pct is not None:
            anc_from_differential(Decimal(0), neutrophil_pct, band_pct)  # range checks only
    elif wbc is not None and neutrophil_pct is not None:
        anc_1e9 = anc_from_differential(wbc_1e9, neutrophil_pct, band_pct)
        computed, entered = True, wbc
    else:
        raise ClinicalValueError("give the ANC, or the WBC with the neutrophil %")
    if wbc_1e9 is not None and anc_1e9 > wbc_1e9:
        raise ClinicalValueError(f"ANC {anc_1e9} is above WBC {wbc_1e9} (x10^9/L)")
    platelets_1e9 = None
    if platelets is not None:
        platelets_1e9 = count_to_1e9_per_l(platelets, platelets_unit or canonical_unit, what="platelets")
    if anc_1e9 > MAX_PLAUSIBLE_ANC:
        raise ClinicalValueError(f"ANC {anc_1e9} x10^9/L is not plausible")
    return CountInput(
        collected_at=collected_at,
        anc_1e9_per_l=anc_1e9,
        anc_computed=computed,
        entered_value=f"{qualifier}{entered}",
        entered_unit=canonical_unit,
        wbc_1e9_per_l=wbc_1e9,
        neutrophil_pct=neutrophil_pct,
        band_pct=band_pct,
        accession=(accession or "").strip(),
        lln_1e9_per_l=lln,
        qualifier=qualifier,
        platelets_1e9_per_l=platelets_1e9,
    )

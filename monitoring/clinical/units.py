"""Units and numbers as entered: count units to 10^9/L, censored values, the ANC from a differential."""
from __future__ import annotations

import re
from decimal import Decimal

from monitoring.clinical.thresholds import MAX_PLAUSIBLE_ANC, MAX_PLAUSIBLE_PLATELETS, MAX_PLAUSIBLE_WBC


class ClinicalValueError(ValueError):
    """A value that cannot be accepted, with a message a nurse can act on."""


# --- Units ------------------------------------------------------------------------------
# 1 x10^9/L = 1 x10^3/uL = 1 K/uL = 1,000 cells/uL; cells/uL = cells/mm3.
UNIT_1E9_PER_L = "10^9/L"
UNIT_1E3_PER_UL = "10^3/uL"
UNIT_PER_UL = "/uL"
COUNT_UNITS = {UNIT_1E9_PER_L: Decimal(1), UNIT_1E3_PER_UL: Decimal(1), UNIT_PER_UL: Decimal("0.001")}
COUNT_UNIT_CHOICES = [
    (UNIT_1E9_PER_L, "x10^9/L"),
    (UNIT_1E3_PER_UL, "x10^3/uL (K/uL)"),
    (UNIT_PER_UL, "cells/uL"),
]
_COUNT_UNIT_ALIASES = {
    UNIT_1E9_PER_L: ["10^9/l", "x10^9/l", "10*9/l", "x10*9/l", "10e9/l", "x10e9/l", "g/l", "giga/l", "10^9 /l"],
    UNIT_1E3_PER_UL: [
        "10^3/ul", "x10^3/ul", "10*3/ul", "x10*3/ul", "k/ul", "k/mcl", "10^3/mcl", "thou/ul",
        "10^3/mm3", "x10^3/mm3", "10*3/mm3", "k/mm3", "10^3/µl", "k/µl", "10e3/ul", "x10e3/ul",
    ],
    UNIT_PER_UL: ["/ul", "cells/ul", "/mm3", "cells/mm3", "/mcl", "cells/mcl", "/µl", "cells/µl", "{cells}/ul"],
}
_COUNT_UNIT_LOOKUP = {alias: unit for unit, aliases in _COUNT_UNIT_ALIASES.items() for alias in aliases}


def normalise_count_unit(text: str) -> str:
    """Return the canonical count unit for `text` (an alias such as 'K/uL'), or raise."""
    key = (text or "").strip().lower().replace(" ", "")
    if key in _COUNT_UNIT_LOOKUP:
        return _COUNT_UNIT_LOOKUP[key]
    raise ClinicalValueError(
        f"unknown unit {text!r}: use 10^9/L, 10^3/uL (K/uL) or cells/uL"
    )


# One numeric reader for every form and importer (issue 16): plain ASCII decimals only. Python's
# Decimal() also reads "1_0" as 10, Arabic-Indic digits and "1e999999" (which then crashes any
# arithmetic), none of which a laboratory or a nurse means.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
# Censored lab values: "<0.1", "< 0.05", ">50", "<=0.1" (below / above the measuring range).
_CENSORED = re.compile(r"(<=?|>=?|≤|≥)\s*(.*)", re.DOTALL)
QUALIFIER_BELOW = "<"
QUALIFIER_ABOVE = ">"
# No clinical quantity NeutroWatch stores has more than 12 digits before or after the point.
MAX_NUMBER_DIGITS = 12


def to_decimal(value: object, field: str = "value") -> Decimal:
    """Return `value` as a finite plain Decimal, or raise naming the field.

    Text must be ASCII digits with an optional sign and decimal point: no exponent, no `_`,
    no other scripts' digits. A Decimal (e.g. from FHIR JSON) must be finite and of a sane size.
    """
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        number = Decimal(value)
        if not number.is_finite():
            raise ClinicalValueError(f"{field}: {value!r} is not a finite number")
    else:
        text = str(value).strip()
        if not _PLAIN_DECIMAL.fullmatch(text):
            raise ClinicalValueError(f"{field}: {text[:40]!r} is not a number (digits 0-9 with an optional "
                                     "decimal point, e.g. 0.45)")
        number = Decimal(text)
        if len(text) <= MAX_NUMBER_DIGITS:  # the usual short number: no digit count to check
            return number
    if number != 0 and (number.adjusted() >= MAX_NUMBER_DIGITS or number.as_tuple().exponent < -MAX_NUMBER_DIGITS):
        raise ClinicalValueError(f"{field}: {value!s:.40} has more digits than any {field} can have")
    return number


def to_censored_decimal(value: object, field: str = "value") -> tuple[str, Decimal]:
    """Return (qualifier, bound) for a lab value that may be censored: "<0.1" -> ("<", 0.1).

    The qualifier is "" for an exact value, "<" below the measuring range, ">" above it.
    "<=" is read as "<" and ">=" as ">": the value is not known more precisely than its bound.
    """
    text = str(value).strip()
    if not text or text[0] not in "<>≤≥":
        return "", to_decimal(text, field)
    match = _CENSORED.fullmatch(text)
    qualifier = QUALIFIER_BELOW if match.group(1) in ("<", "<=", "≤") else QUALIFIER_ABOVE
    return qualifier, to_decimal(match.group(2), field)


def check_limits(value: Decimal, field: str, *, minimum: Decimal | None = None, maximum: Decimal | None = None,
                 decimal_places: int | None = None) -> Decimal:
    """Return `value` if it lies within the field's limits, else raise naming the field."""
    if minimum is not None and value < minimum:
        raise ClinicalValueError(f"{field}: {value} is below {minimum}")
    if maximum is not None and value > maximum:
        raise ClinicalValueError(f"{field}: {value} is above {maximum}")
    if decimal_places is not None and value.as_tuple().exponent < -decimal_places:
        raise ClinicalValueError(f"{field}: {value} has more than {decimal_places} decimal places")
    return value


def is_negative(value: Decimal) -> bool:
    """Return True for a number below zero, and for a signed zero ("-0", "-0.0").

    "-0" is not zero as typed: it is a minus sign on a number, a slip or a mangled value, and was
    stored as ANC 0.000 (grade 4, a critical alert and emails). Refuse it like any negative count.
    """
    return value < 0 or (isinstance(value, Decimal) and value.is_signed())


def count_to_1e9_per_l(value: Decimal, unit: str, *, what: str = "ANC") -> Decimal:
    """Convert a cell count to 10^9/L, refusing values whose unit makes them implausible.

    Refuse, do not guess: an ANC of 3000 labelled 10^3/uL is almost certainly cells/uL,
    and 1.2 labelled cells/uL is almost certainly 10^9/L.
    """
    canonical = normalise_count_unit(unit)
    if is_negative(value):
        raise ClinicalValueError(f"{what} cannot be negative")
    converted = (value * COUNT_UNITS[canonical]).quantize(Decimal("0.001"))
    limit = {"ANC": MAX_PLAUSIBLE_ANC, "platelets": MAX_PLAUSIBLE_PLATELETS}.get(what, MAX_PLAUSIBLE_WBC)
    if converted > limit:
        raise ClinicalValueError(
            f"{what} {value} {canonical} would be {converted} x10^9/L, which is not plausible; "
            f"check the unit (was it cells/uL?)"
        )
    if canonical == UNIT_PER_UL and 0 < value < 20 and value != value.to_integral_value():
        raise ClinicalValueError(
            f"{what} {value} cells/uL is implausibly small and fractional; check the unit (was it 10^9/L?)"
        )
    return converted


def anc_from_differential(wbc: Decimal, neutrophil_pct: Decimal, band_pct: Decimal | None = None) -> Decimal:
    """Return ANC in the WBC's unit: WBC x (segmented % + band %) / 100."""
    bands = band_pct or Decimal(0)
    for name, pct in (("neutrophil %", neutrophil_pct), ("band %", bands)):
        if is_negative(pct) or pct > 100:
            raise ClinicalValueError(f"{name} must be between 0 and 100, not {pct}")
    if neutrophil_pct + bands > 100:
        raise ClinicalValueError(
            f"neutrophil % + band % is {neutrophil_pct + bands}, more than 100"
        )
    if is_negative(wbc):
        raise ClinicalValueError("WBC cannot be negative")
    return (wbc * (neutrophil_pct + bands) / Decimal(100)).quantize(Decimal("0.001"))


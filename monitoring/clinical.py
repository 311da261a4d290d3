"""Clinical rules on plain data: grading, units, ANC from a differential, fever.

Every threshold NeutroWatch acts on lives here with its source. Nothing in this
module touches the database or reads the clock, so it is tested without Django's
test database.

Sources
- CTCAE v5.0: Common Terminology Criteria for Adverse Events v5.0, NCI 2017,
  "Neutrophil count decreased" and "Febrile neutropenia".
- IDSA 2010: Freifeld AG et al. Clinical practice guideline for the use of
  antimicrobial agents in neutropenic patients with cancer. Clin Infect Dis
  2011;52:e56-e93.
- NCCN: Prevention and Treatment of Cancer-Related Infections; Hematopoietic
  Growth Factors (myeloid growth factors).
- ASCO/IDSA 2018: Taplitz RA et al. J Clin Oncol 2018;36:1443-1453.
- Docetaxel prescribing information (do not give with neutrophils < 1500 cells/mm3).
- NICE CG151 (2012, updated 2020): Neutropenic sepsis: prevention and management in people
  with cancer. 1.2: suspect neutropenic sepsis in anyone having anticancer treatment who
  becomes unwell; treat a temperature higher than 38 C as fever; do not wait for the FBC.
- Pegfilgrastim (Neulasta) label: do not administer between 14 days before and 24 hours after
  cytotoxic chemotherapy. Filgrastim (Neupogen) label: start no earlier than 24 hours after
  cytotoxic chemotherapy, not in the 24 hours before it; usually 24-72 h after.
- ASCO 2015: Smith TJ et al. J Clin Oncol 2015;33:3199 (G-CSF primary and secondary prophylaxis).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

# --- CTCAE v5.0 "Neutrophil count decreased" -------------------------------------------
# Grade boundaries in 10^9/L. A value exactly on a boundary belongs to the milder grade
# (CTCAE writes "<LLN - 1500/mm3" for grade 1, "<1500 - 1000/mm3" for grade 2, ...).
GRADE2_BELOW = Decimal("1.5")
GRADE3_BELOW = Decimal("1.0")
GRADE4_BELOW = Decimal("0.5")
# Grade 1 starts at the lab's lower limit of normal, not at a fixed 2.0. When the lab
# sends no LLN we use the clinic setting (default 1.8, a common adult reference limit).
DEFAULT_ANC_LLN = Decimal("1.8")
# IDSA 2010: profound neutropenia.
PROFOUND_BELOW = Decimal("0.1")

# --- Febrile neutropenia ----------------------------------------------------------------
# IDSA 2010 / NCCN: fever is a single oral temperature >= 38.3 C, or >= 38.0 C sustained
# over 1 hour. (CTCAE v5.0's FN term uses > 38.3 C single; we alert on the IDSA >= so the
# nurse is never told later than the guideline says.)
FEVER_SINGLE_C = Decimal("38.3")
FEVER_SUSTAINED_C = Decimal("38.0")
FEVER_SUSTAINED_FOR = timedelta(hours=1)
# The fever definition is a clinic setting (FEVER_POLICY): "idsa" (the default, above) or
# "nice": NICE CG151 treats any single temperature higher than 38 C as fever.
FEVER_POLICY_IDSA = "idsa"
FEVER_POLICY_NICE = "nice"
FEVER_POLICIES = (FEVER_POLICY_IDSA, FEVER_POLICY_NICE)
NICE_FEVER_ABOVE_C = Decimal("38.0")
# IDSA "sustained over 1 h": a single reading of 38.0-38.2 C prompts a re-check within the hour;
# a re-check that is still >= 38.0 C (nothing below in between) confirms the fever.
FEVER_RECHECK_WITHIN = timedelta(hours=1)
# Neutrophil status is "known" only with a measured count this recent: NICE CG151 asks for an
# urgent FBC at presentation, and a forecast is not a count.
KNOWN_ANC_WITHIN = timedelta(hours=24)
# IDSA 2010: neutropenia for the FN pathway is ANC < 0.5, or expected to fall below 0.5
# within 48 h. NCCN also counts ANC < 1.0 with a predicted decline to <= 0.5 in 48 h,
# so the alert uses the wider NCCN bound on the last measured ANC.
FN_ANC_BELOW = Decimal("1.0")
FN_PREDICTED_ANC_BELOW = Decimal("0.5")
FN_PREDICTION_HORIZON = timedelta(hours=48)
# ASCO/IDSA 2018: empirical antibiotics within 1 hour of triage.
FN_ANTIBIOTICS_WITHIN = timedelta(hours=1)

# --- Counts that need confirmation (delta check) -------------------------------------------
# A count more than 10 times above or below the patient's previous count of the last 48 h is
# far outside day-to-day biological change (even G-CSF recovery rarely multiplies ANC tenfold
# in two days), and a value of 20-100 "x10^9/L" is almost always cells/uL typed in the wrong
# unit. Both are held for a person to confirm (issue 11); values are compared from the lab's
# resolution (0.01) so that 0.00 -> 0.02 is not a "factor".
DELTA_FACTOR = Decimal("10")
DELTA_WITHIN = timedelta(hours=48)
DELTA_FLOOR = Decimal("0.01")
SUSPECT_CELLS_PER_UL_FROM = Decimal("20")
SUSPECT_CELLS_PER_UL_TO = Decimal("100")

# --- Next cycle -------------------------------------------------------------------------
# Docetaxel label and common protocol rule: full dose needs ANC >= 1.5 x10^9/L.
DEFAULT_NEXT_CYCLE_ANC = Decimal("1.5")

# --- Plausibility -----------------------------------------------------------------------
# An ANC above 100 x10^9/L is not a neutrophil count (even leukaemoid reactions with
# G-CSF stay well below); it is almost always a unit error (cells/uL labelled 10^3/uL).
MAX_PLAUSIBLE_ANC = Decimal("100")
MAX_PLAUSIBLE_WBC = Decimal("500")
TEMPERATURE_MIN_C = Decimal("30")
TEMPERATURE_MAX_C = Decimal("45")

# --- G-CSF prophylaxis (ASCO 2015, NCCN, EORTC 2010) --------------------------------------
# Primary prophylaxis when regimen FN risk >= 20 %; at 10-20 % when patient factors raise it.
GCSF_EXPECTED_BY_CYCLE_DAY = 3
OLDER_PATIENT_AGE = 65
# Filgrastim starts 24-72 h after chemotherapy; pegfilgrastim >= 24 h after, and an on-body
# injector is applied on day 1: a dose up to 12 h before the day-1 dose counts for the cycle.
GCSF_COUNTS_FROM_BEFORE_DAY1 = timedelta(hours=12)
# The "G-CSF indicated" prompt: both labels allow G-CSF from 24 h after the last chemotherapy
# dose, so from then on a missing dose is worth a prompt (not only at 72 h). Counted from the END
# of that dose's chemotherapy (chemo_end): with a 46-hour 5-FU pump, 24 h after the pump stops.
GCSF_DUE_AFTER_CHEMO = timedelta(hours=24)
# Pegfilgrastim label: not from 14 days before to 24 h after cytotoxic chemotherapy.
PEGFILGRASTIM_NOT_BEFORE_CHEMO = timedelta(days=14)
PEGFILGRASTIM_NOT_AFTER_CHEMO = timedelta(hours=24)
# Regimens given every 2 weeks (dose-dense AC, CHOP-14, FOLFOX, ABVD's days 1 and 15): NCCN
# (Hematopoietic Growth Factors) accepts pegfilgrastim with at least 12 days before the next
# chemotherapy (phase II evidence; dose-dense AC with day-2 pegfilgrastim, CALGB 9741 schedule;
# review: Mahtani et al., BMC Cancer 2021;21:621; EORTC 2010 alike). Weekly and shorter schedules
# have no data (NCCN): the label's 14 days stays for them, and for 3-weekly ones.
PEGFILGRASTIM_NOT_BEFORE_CHEMO_EVERY_2_WEEKS = timedelta(days=12)
EVERY_2_WEEKS_INTERVAL_DAYS = (14, 20)  # shortest interval between chemotherapy days, inclusive
# With a continuous infusion every 2 weeks (FOLFOX, FOLFIRINOX: a 46-h 5-FU pump) no time is both
# 24 h after the pump ends and 12 days before the next cycle: the label's earliest time falls on
# day 4, about 11 days before day 15. Day 4, "the day after 5-FU pump disconnect", is how clinics
# follow the label in these regimens (Draper et al., J Oncol Pharm Pract 2021;27:1159, and HOPA
# News 2021;18(1) on it). So the window before the next cycle is what the schedule leaves once
# day 4 has passed: the interval less the infusion, the label's 24 h and up to one more day for
# the rest of day 4, in whole days (10 days for FOLFOX), never more than NCCN's 12. A dose on the
# day the pump is disconnected stays flagged (inside the label's 24 h; off label, Draper 2021).
PEGFILGRASTIM_AFTER_PUMP_DAY_SLACK = timedelta(hours=24)
# Filgrastim label: not in the 24 h before, and from 24 h after, cytotoxic chemotherapy.
FILGRASTIM_NOT_BEFORE_CHEMO = timedelta(hours=24)
FILGRASTIM_NOT_AFTER_CHEMO = timedelta(hours=24)
# "Before" counts from the start of chemotherapy (the recorded administration time), "after" from
# its END: the labels' "24 hours after cytotoxic chemotherapy" is after the last cytotoxic drug has
# been given, and G-CSF while cytotoxics still run stimulates the very cells they kill (the reason
# for the labels' rule). A regimen with a continuous infusion (Regimen.infusion_hours) ends that
# many hours after its recorded time: 5-FU 2400 mg/m2 as a 46-h ambulatory pump in the de Gramont /
# FOLFOX6 / FOLFIRI / FOLFIRINOX schedules (Tournigand et al., J Clin Oncol 2004;22:229;
# Conroy et al., N Engl J Med 2011;364:1817). NCCN (Hematopoietic Growth Factors) likewise
# starts filgrastim 1-3 days after the COMPLETION of chemotherapy.
FLUOROURACIL_PUMP_HOURS = 46
# A G-CSF dose is checked against chemotherapy for this long after it was given.
GCSF_TIMING_LOOKBACK = timedelta(days=14)

# --- Alert rules (monitoring/alert_rules.py) ----------------------------------------------
# A pre-dose blood count is the one taken in the 72 h before the next day 1: the usual window
# of chemotherapy protocols (e.g. "FBC within 72 hours of treatment"); local protocols vary.
PRE_DOSE_COUNT_WINDOW = timedelta(hours=72)
# A fever keeps the FN alert open for 24 h after the last febrile reading: IDSA 2010 asks for
# assessment at presentation, and a reading a day old no longer says the patient is febrile now.
FN_FEVER_LOOKBACK = timedelta(hours=24)
# "Nadir window": the forecast's predicted nadir time +/- 2 days (the nadir is broad: ANC stays
# near its lowest for several days, Friberg 2002); without a forecast, the regimen's window.
NADIR_WINDOW_HALF_WIDTH = timedelta(days=2)
# A patient without an active cycle: counts of this last week are graded for observed alerts
# (a count older than a week no longer says how the patient is).
NO_CYCLE_COUNT_LOOKBACK = timedelta(days=7)
# Record given: the pre-dose count must be at most 72 h old (PRE_DOSE_COUNT_WINDOW above).
# A fever in a patient whose course has ended, or with no cycle under way, is still a possible
# neutropenic sepsis for this long after the last chemotherapy dose: NICE sepsis guideline (NG51
# as amended 2024, NG255 2025, rec 1.1.9): "suspect neutropenic sepsis in people who become unwell
# and are having or have had systemic anticancer treatment within the last 30 days" (NICE CG151).
NEUTROPENIC_SEPSIS_AFTER_CHEMO = timedelta(days=30)


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
    limit = MAX_PLAUSIBLE_ANC if what == "ANC" else MAX_PLAUSIBLE_WBC
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


# --- Grading ----------------------------------------------------------------------------
GRADE_LABELS = {
    0: "Grade 0 (within normal limits)",
    1: "Grade 1 (mild)",
    2: "Grade 2 (moderate)",
    3: "Grade 3 (severe)",
    4: "Grade 4 (life-threatening)",
}


def ctcae_grade(anc_1e9_per_l: Decimal, lln_1e9_per_l: Decimal = DEFAULT_ANC_LLN) -> int:
    """Return the CTCAE v5.0 grade of 'Neutrophil count decreased' (0-4).

    Boundaries belong to the milder grade: 1.5 is grade 1, 1.0 grade 2, 0.5 grade 3.
    """
    anc = Decimal(anc_1e9_per_l)
    if anc < GRADE4_BELOW:
        return 4
    if anc < GRADE3_BELOW:
        return 3
    if anc < GRADE2_BELOW:
        return 2
    if anc < Decimal(lln_1e9_per_l):
        return 1
    return 0


# --- Temperature ------------------------------------------------------------------------
TEMPERATURE_UNIT_CHOICES = [("C", "°C"), ("F", "°F")]
_TEMPERATURE_ALIASES = {"c": "C", "cel": "C", "°c": "C", "degc": "C", "f": "F", "[degf]": "F", "°f": "F", "degf": "F"}


def to_celsius(value: Decimal, unit: str) -> Decimal:
    """Convert a body temperature to degrees Celsius and check it is physiological."""
    canonical = _TEMPERATURE_ALIASES.get((unit or "").strip().lower())
    if canonical is None:
        raise ClinicalValueError(f"unknown temperature unit {unit!r}: use C or F")
    celsius = value if canonical == "C" else (value - 32) * Decimal(5) / Decimal(9)
    celsius = celsius.quantize(Decimal("0.01"))
    if not TEMPERATURE_MIN_C <= celsius <= TEMPERATURE_MAX_C:
        raise ClinicalValueError(
            f"temperature {value} °{canonical} is {celsius} °C, outside {TEMPERATURE_MIN_C}-{TEMPERATURE_MAX_C} °C"
        )
    return celsius


@dataclass(frozen=True)
class TemperaturePoint:
    taken_at: datetime
    temperature_c: Decimal


def fever_episode(readings: list[TemperaturePoint], policy: str = FEVER_POLICY_IDSA) -> TemperaturePoint | None:
    """Return the reading that meets the fever definition of `policy`, or None.

    IDSA 2010 (default): a single reading >= 38.3 C, or >= 38.0 C sustained: a reading of
    38.0 C or more confirmed by a re-check of 38.0 C or more (none below in between), or
    readings >= 38.0 C spanning an hour. NICE CG151: a single reading above 38.0 C.
    """
    ordered = sorted(readings, key=lambda r: r.taken_at)
    if policy == FEVER_POLICY_NICE:
        return next((r for r in ordered if r.temperature_c > NICE_FEVER_ABOVE_C), None)
    run_start: TemperaturePoint | None = None
    for reading in ordered:
        if reading.temperature_c >= FEVER_SINGLE_C:
            return reading
        if reading.temperature_c >= FEVER_SUSTAINED_C:
            if run_start is not None:
                return reading  # the re-check confirms it
            run_start = reading
        else:
            run_start = None
    return None


def fever_needs_recheck(readings: list[TemperaturePoint], policy: str = FEVER_POLICY_IDSA) -> TemperaturePoint | None:
    """Return the latest reading of 38.0 C or more that is not (yet) a fever, or None.

    Under IDSA a single 38.0-38.2 C needs a re-check within the hour; under NICE exactly 38.0 C.
    """
    ordered = sorted(readings, key=lambda r: r.taken_at)
    if not ordered or fever_episode(ordered, policy) is not None:
        return None
    latest = ordered[-1]
    return latest if latest.temperature_c >= FEVER_SUSTAINED_C else None


def count_needs_confirmation(anc_1e9_per_l: Decimal, previous_anc_1e9_per_l: Decimal | None) -> str | None:
    """Return why a count should be confirmed before it is stored, naming the likely unit mistake, or None.

    `previous_anc_1e9_per_l` is the patient's previous count of the last 48 h (DELTA_WITHIN), if any.
    """
    anc = Decimal(anc_1e9_per_l)
    if SUSPECT_CELLS_PER_UL_FROM <= anc <= SUSPECT_CELLS_PER_UL_TO:
        as_cells = (anc * COUNT_UNITS[UNIT_PER_UL]).normalize()
        return (f"{anc.normalize():f} may be cells/uL ({as_cells:f} x10^9/L): an ANC of {anc.normalize():f} "
                "x10^9/L is far above any neutrophil count")
    if previous_anc_1e9_per_l is None:
        return None
    now_, before = max(anc, DELTA_FLOOR), max(Decimal(previous_anc_1e9_per_l), DELTA_FLOOR)
    factor = max(now_ / before, before / now_)
    if factor <= DELTA_FACTOR:
        return None
    direction = "higher" if now_ > before else "lower"
    if anc > 0 and previous_anc_1e9_per_l > 0:  # the true ratio names the mistake best
        factor = max(anc / previous_anc_1e9_per_l, previous_anc_1e9_per_l / anc)
    # About 1000 times: cells/uL and x10^9/L mixed up; about 10 times: a decimal point slipped.
    mistake = ("a unit mix-up between cells/uL and x10^9/L (a factor of 1000)" if factor >= 300
               else "a misplaced decimal point")
    return (f"{anc.normalize():f} x10^9/L is {factor:.0f} times {direction} than the previous count "
            f"{Decimal(previous_anc_1e9_per_l).normalize():f} x10^9/L of the last 48 h: check for {mistake}")


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

"""Grading: CTCAE v5.0 grades of a count, fever episodes (IDSA 2010 / NICE CG151), counts that need confirmation."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from monitoring.clinical.thresholds import (
    DEFAULT_ANC_LLN,
    DEFAULT_FEVER_POLICY,
    DELTA_FACTOR,
    DELTA_FLOOR,
    DISPLAY_BOUNDARIES,
    FEVER_GRADE2_ABOVE_C,
    FEVER_GRADE3_ABOVE_C,
    FEVER_POLICY_IDSA,
    FEVER_POLICY_NICE,
    FEVER_POLICY_NICE_IDSA,
    FEVER_SINGLE_C,
    FEVER_SUSTAINED_C,
    GRADE2_BELOW,
    GRADE3_BELOW,
    GRADE4_BELOW,
    NICE_FEVER_ABOVE_C,
    PLATELETS_GRADE4_BELOW,
    SUSPECT_CELLS_PER_UL_FROM,
    SUSPECT_CELLS_PER_UL_TO,
    TEMPERATURE_MAX_C,
    TEMPERATURE_MIN_C,
)
from monitoring.clinical.units import (
    COUNT_UNITS,
    UNIT_PER_UL,
    ClinicalValueError,
    count_to_1e9_per_l,
    normalise_count_unit,
)

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


def platelet_grade(platelets_1e9_per_l: Decimal, lln_1e9_per_l: Decimal = Decimal("150")) -> int:
    """Return the CTCAE v5.0 grade of 'Platelet count decreased' (0-4); boundaries belong to the milder grade."""
    platelets = Decimal(platelets_1e9_per_l)
    for grade, below in ((4, PLATELETS_GRADE4_BELOW), (3, Decimal("50")), (2, Decimal("75")), (1, lln_1e9_per_l)):
        if platelets < below:
            return grade
    return 0


def number_text(value, digits: int = 2) -> str:
    """Return `value` rounded to `digits` places, with more places where rounding would cross a boundary.

    Numbers as received (issue 21 item 9): 0.499 reads "0.499", not "0.50"; 0.5 reads "0.50";
    38.04 reads "38.04", not "38.0". Text that is not a number (a censored "<0.1") is returned as it is.
    """
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    for places in range(digits, max(digits, -number.as_tuple().exponent, 3) + 1):
        shown = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if not any((number < b) != (shown < b) or (number > b) != (shown > b) for b in DISPLAY_BOUNDARIES):
            return f"{shown:f}"
    return f"{number.normalize():f}"


def count_text(anc_1e9_per_l: Decimal, qualifier: str = "") -> str:
    """Return a count as received: a censored one as "<0.1" (its bound), an exact one as stored."""
    if qualifier:
        return f"{qualifier}{Decimal(anc_1e9_per_l).normalize():f}"
    return f"{anc_1e9_per_l}"


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


def held_temperature_readings(value: Decimal, unit: str) -> list[tuple[str, Decimal]]:
    """Return every body temperature a temperature held for review may be, in °C, with its words.

    As received (if it is physiological in its unit), and the unit mix-up: a value physiological
    in the other unit is read in it too (101.3 "C" is 38.50 °C if it is °F); a missing or unknown
    unit is read as both. Doubt fails safe: the alert follows the hottest reading.
    """
    canonical = _TEMPERATURE_ALIASES.get((unit or "").strip().lower())
    readings = []
    for candidate in ("C", "F") if canonical != "F" else ("F", "C"):
        try:
            celsius = to_celsius(value, candidate)
        except ClinicalValueError:
            continue
        words = "as received it is" if candidate == canonical else f"if it is °{candidate} it is"
        readings.append((words, celsius))
    return readings


@dataclass(frozen=True)
class TemperaturePoint:
    taken_at: datetime
    temperature_c: Decimal
    entered_at: datetime | None = None  # when it was stored: a fever entered late (LATE_FEVER_*)
    reading_id: int | None = None


# The fever criteria of the guidelines, and which a policy uses (thresholds: FEVER_POLICY_*).
FEVER_ABOVE_38_NICE = "above_38_once"  # NICE CG151: a temperature higher than 38 C
FEVER_38_3_ONCE = "38_3_once"  # IDSA 2010 / CTCAE v5.0: a single temperature of 38.3 C or more
FEVER_38_SUSTAINED = "38_sustained"  # IDSA 2010 / CTCAE v5.0: 38.0 C or more sustained over an hour
FEVER_CRITERION_WORDS = {
    FEVER_ABOVE_38_NICE: "a temperature above 38.0 °C (NICE CG151)",
    FEVER_38_3_ONCE: "a single temperature of 38.3 °C or more (IDSA 2010, CTCAE v5.0)",
    FEVER_38_SUSTAINED: "38.0 °C or more sustained over an hour (IDSA 2010, CTCAE v5.0)",
}
POLICY_CRITERIA = {
    FEVER_POLICY_NICE_IDSA: (FEVER_ABOVE_38_NICE, FEVER_38_3_ONCE, FEVER_38_SUSTAINED),
    FEVER_POLICY_IDSA: (FEVER_38_3_ONCE, FEVER_38_SUSTAINED),
    FEVER_POLICY_NICE: (FEVER_ABOVE_38_NICE, FEVER_38_SUSTAINED),  # NICE keeps the sustained rule
}


def fever_criteria(readings: list[TemperaturePoint], policy: str = DEFAULT_FEVER_POLICY) -> dict[str, TemperaturePoint]:
    """Return each fever criterion of `policy` the readings meet, with the first reading that meets it.

    Sustained: a reading of 38.0 C or more confirmed by a re-check of 38.0 C or more (none below
    in between), or readings >= 38.0 C spanning an hour.
    """
    ordered = sorted(readings, key=lambda r: r.taken_at)
    met: dict[str, TemperaturePoint] = {}
    run_start: TemperaturePoint | None = None
    for reading in ordered:
        if reading.temperature_c > NICE_FEVER_ABOVE_C:
            met.setdefault(FEVER_ABOVE_38_NICE, reading)
        if reading.temperature_c >= FEVER_SINGLE_C:
            met.setdefault(FEVER_38_3_ONCE, reading)
        if reading.temperature_c >= FEVER_SUSTAINED_C:
            if run_start is not None:
                met.setdefault(FEVER_38_SUSTAINED, reading)  # the re-check confirms it
            run_start = run_start or reading
        else:
            run_start = None
    wanted = POLICY_CRITERIA.get(policy, POLICY_CRITERIA[DEFAULT_FEVER_POLICY])
    return {criterion: reading for criterion, reading in met.items() if criterion in wanted}


def fever_episode(readings: list[TemperaturePoint], policy: str = DEFAULT_FEVER_POLICY) -> TemperaturePoint | None:
    """Return the first reading that meets any fever criterion of `policy` (fever_criteria), or None."""
    met = fever_criteria(readings, policy)
    return min(met.values(), key=lambda r: r.taken_at) if met else None


def fever_grade(temperature_c: Decimal) -> int:
    """Return the CTCAE v5.0 "Fever" grade of one reading: 0 below 38.0 C, 1 to 39.0, 2 to 40.0, 3 above."""
    if temperature_c > FEVER_GRADE3_ABOVE_C:
        return 3
    if temperature_c > FEVER_GRADE2_ABOVE_C:
        return 2
    return 1 if temperature_c >= FEVER_SUSTAINED_C else 0


def hottest(readings: list[TemperaturePoint]) -> TemperaturePoint | None:
    """Return the hottest reading (the earliest of equals), or None."""
    return min(readings, key=lambda r: (-r.temperature_c, r.taken_at), default=None)


def fever_needs_recheck(readings: list[TemperaturePoint],
                        policy: str = DEFAULT_FEVER_POLICY) -> TemperaturePoint | None:
    """Return the latest reading of 38.0 C or more that is not (yet) a fever, or None.

    Under IDSA a single 38.0-38.2 C needs a re-check within the hour; with NICE exactly 38.0 C.
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




# --- Held counts: every reading the hold names (issue 21, item 5) ------------------------------
@dataclass(frozen=True)
class Reading:
    """One way to read a held count: the ANC in 10^9/L and, in words, the reading it assumes."""

    anc_1e9_per_l: Decimal
    words: str  # "as received", "if it is cells/uL", "if the decimal point slipped" ...

    @property
    def grade(self) -> int:
        return ctcae_grade(self.anc_1e9_per_l)


AS_RECEIVED = "as received"
IF_CELLS_PER_UL = "if it is cells/uL"
IF_1E9_PER_L = "if it is x10^9/L"
IF_DECIMAL_SLIP = "if the decimal point slipped"
IF_UNIT_MIX_UP = "if cells/uL and x10^9/L were mixed up"
_THOUSAND, _TEN = Decimal(1000), Decimal(10)
_READING_PLACES = Decimal("0.001")


def held_readings(number: Decimal, unit: str, previous_anc_1e9_per_l: Decimal | None = None) -> list[Reading]:
    """Return every reading of a held count the reasons for holding it name, as received first.

    `number` is the count as received in `unit` (the ANC, or WBC x neutrophil % / 100), and
    `previous_anc_1e9_per_l` the patient's previous count of the last 48 h (the delta check's).
    Doubt fails safe: a count held as a likely unit or decimal slip is graded as received AND as
    the slip would make it, and the alert follows the worst (CLINICAL.md: 1 x10^9/L = 1,000 cells/uL).
    A value its unit makes implausible (3000 "x10^9/L") has no reading as received. Raises
    ClinicalValueError for a unit that is not a count's.
    """
    canonical = normalise_count_unit(unit)
    number = Decimal(number)
    readings: list[Reading] = []

    def add(value: Decimal, words: str) -> None:
        value = value.quantize(_READING_PLACES)
        if value >= 0 and all(r.anc_1e9_per_l != value for r in readings):
            readings.append(Reading(value, words))

    try:
        add(count_to_1e9_per_l(number, canonical), AS_RECEIVED)
    except ClinicalValueError:
        pass  # implausible as received: only the readings below remain
    if canonical != UNIT_PER_UL and number >= SUSPECT_CELLS_PER_UL_FROM:
        add(number / _THOUSAND, IF_CELLS_PER_UL)  # "80 x10^9/L" is 80 cells/uL: 0.08
    if canonical == UNIT_PER_UL and number < SUSPECT_CELLS_PER_UL_FROM:
        add(number, IF_1E9_PER_L)  # "0.4 cells/uL" is 0.4 x10^9/L
    as_received = next((r.anc_1e9_per_l for r in readings if r.words == AS_RECEIVED), None)
    if as_received is not None and previous_anc_1e9_per_l is not None:
        now_, before = max(as_received, DELTA_FLOOR), max(Decimal(previous_anc_1e9_per_l), DELTA_FLOOR)
        factor = max(now_ / before, before / now_)
        if factor > DELTA_FACTOR:
            # The same split as count_needs_confirmation: about 1000 times a unit mix-up, else a decimal slip.
            step, words = (_THOUSAND, IF_UNIT_MIX_UP) if factor >= 300 else (_TEN, IF_DECIMAL_SLIP)
            add(as_received / step if now_ > before else as_received * step, words)
    return readings

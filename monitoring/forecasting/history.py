"""Validate a history in the nadir-bench input format and turn it into plain numbers.

Times become hours since the forecast cycle's day-1 dose (``forecast_cycle_start``), so the model
never sees calendar dates. Time zones: naive times are taken as local wall-clock time. If any time
carries a zone (``Z``, ``+01:00``), every zoned time is converted to the offset of
``forecast_cycle_start`` (or, if that one is naive, of the first zoned time met) and the zone is
dropped; the output is then written in that local wall-clock time. This keeps a history with mixed
suffixes consistent without guessing a zone the input never stated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from .errors import HistoryError

# Factor from the stated unit to 10^9/L (CLINICAL.md: 1 x10^9/L = 1 x10^3/uL = 1,000 cells/uL).
UNIT_TO_1E9_PER_L: dict[str, float] = {
    "10^9/l": 1.0,
    "10*9/l": 1.0,
    "x10^9/l": 1.0,
    "10^3/ul": 1.0,
    "10*3/ul": 1.0,
    "x10^3/ul": 1.0,
    "k/ul": 1.0,
    "/ul": 1e-3,
    "cells/ul": 1e-3,
    "/mm3": 1e-3,
    "cells/mm3": 1e-3,
}

# Do not guess (CLINICAL.md): an ANC above this in 10^9/L is almost surely a unit mix-up (e.g. 3000
# labelled 10^3/uL) or a lab error. G-CSF spikes stay well below it. The forecast sets such a count
# aside with a warning naming it; the app's data entry refuses it (clinical.py).
MAX_PLAUSIBLE_ANC_1E9_PER_L = 150.0

GCSF_PRODUCTS = {
    "filgrastim": "filgrastim",
    "pegfilgrastim": "pegfilgrastim",
    "lipegfilgrastim": "pegfilgrastim",
}

HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class Regimen:
    """The regimen fields of a history."""

    code: str
    name: str
    cycle_length_days: float
    fn_risk: str
    chemo_days: tuple[int, ...] | None
    next_cycle_anc: float


@dataclass
class History:
    """A validated history; times in hours relative to the forecast cycle's day-1 dose."""

    id: object
    regimen: Regimen
    cycle_start: datetime
    dose_hours: list[float]
    dose_fractions: list[float]
    gcsf_hours: list[float]
    gcsf_products: list[str]
    count_hours: list[float]
    anc_1e9_per_l: list[float]
    warnings: list[str] = field(default_factory=list)
    as_of_h: float | None = None   # the moment the history was taken, if stated

    def to_datetime(self, hours: float) -> datetime:
        """Return the local wall-clock time ``hours`` after the cycle start."""
        return self.cycle_start + timedelta(hours=float(hours))


def _require(obj: dict, key: str, where: str) -> object:
    if key not in obj or obj[key] is None:
        raise HistoryError(f"{where}{key}: missing")
    return obj[key]


def _number(value: object, where: str, *, positive: bool = False, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise HistoryError(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise HistoryError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise HistoryError(f"{where}: must be finite, got {value!r}")
    if positive and number <= 0:
        raise HistoryError(f"{where}: must be positive, got {value!r}")
    if minimum is not None and number < minimum:
        raise HistoryError(f"{where}: must be >= {minimum}, got {value!r}")
    return number


class _Clock:
    """Parse ISO-8601 times into naive local times, converting zoned ones to one offset."""

    def __init__(self) -> None:
        self.zone: tzinfo | None = None

    def parse(self, value: object, where: str) -> datetime:
        if not isinstance(value, str):
            raise HistoryError(f"{where}: expected an ISO-8601 time string, got {value!r}")
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise HistoryError(f"{where}: invalid ISO-8601 time {value!r}") from None
        if moment.tzinfo is None:
            return moment
        if self.zone is None:
            self.zone = moment.tzinfo
        return moment.astimezone(self.zone).replace(tzinfo=None)


def _list(history: dict, key: str) -> list:
    value = history.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise HistoryError(f"{key}: expected a list, got {type(value).__name__}")
    return value


def _item(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise HistoryError(f"{where}: expected an object, got {value!r}")
    return value


def parse_regimen(raw: object) -> Regimen:
    """Validate the ``regimen`` object."""
    regimen = _item(raw, "regimen")
    code = regimen.get("code") or ""
    if not isinstance(code, str):
        raise HistoryError(f"regimen.code: expected a string, got {code!r}")
    name = regimen.get("name") or code
    cycle_length = _number(_require(regimen, "cycle_length_days", "regimen."), "regimen.cycle_length_days",
                           positive=True)
    if cycle_length > 120:
        raise HistoryError(f"regimen.cycle_length_days: implausibly long cycle {cycle_length!r}")
    fn_risk = regimen.get("fn_risk") or "unknown"
    if not isinstance(fn_risk, str):
        raise HistoryError(f"regimen.fn_risk: expected a string, got {fn_risk!r}")
    chemo_days = regimen.get("chemo_days")
    if chemo_days is not None:
        if not isinstance(chemo_days, list) or not chemo_days:
            raise HistoryError(f"regimen.chemo_days: expected a non-empty list of day numbers, got {chemo_days!r}")
        days = []
        for index, day in enumerate(chemo_days):
            number = _number(day, f"regimen.chemo_days[{index}]", minimum=1)
            if number > cycle_length:
                raise HistoryError(f"regimen.chemo_days[{index}]: day {day!r} is after the cycle ends")
            days.append(int(number))
        chemo_days = tuple(sorted(set(days)))
    threshold = regimen.get("next_cycle_anc", 1.5)
    threshold = _number(1.5 if threshold is None else threshold, "regimen.next_cycle_anc", positive=True)
    return Regimen(code=code.strip(), name=str(name), cycle_length_days=cycle_length,
                   fn_risk=fn_risk.strip().lower(), chemo_days=chemo_days, next_cycle_anc=threshold)


def parse_history(history: object) -> History:
    """Validate ``history`` and return it with times as hours from the forecast cycle start.

    Raise HistoryError naming the field for anything malformed.
    """
    if not isinstance(history, dict):
        raise HistoryError(f"history: expected a JSON object, got {type(history).__name__}")
    regimen = parse_regimen(_require(history, "regimen", ""))
    clock = _Clock()
    start = clock.parse(_require(history, "forecast_cycle_start", ""), "forecast_cycle_start")
    as_of = None
    if history.get("as_of") is not None:
        as_of = clock.parse(history["as_of"], "as_of")

    def hours(moment: datetime) -> float:
        return (moment - start).total_seconds() / 3600.0

    dose_hours, fractions = [], []
    for index, raw in enumerate(_list(history, "doses")):
        where = f"doses[{index}]"
        dose = _item(raw, where)
        moment = clock.parse(_require(dose, "time", where + "."), where + ".time")
        fraction = dose.get("dose_fraction", 1.0)
        fraction = _number(1.0 if fraction is None else fraction, where + ".dose_fraction", minimum=0)
        if fraction > 3:
            raise HistoryError(f"{where}.dose_fraction: {fraction!r} is over 3 times the protocol dose")
        dose_hours.append(hours(moment))
        fractions.append(fraction)

    gcsf_hours, products = [], []
    for index, raw in enumerate(_list(history, "gcsf")):
        where = f"gcsf[{index}]"
        dose = _item(raw, where)
        moment = clock.parse(_require(dose, "time", where + "."), where + ".time")
        product = str(_require(dose, "product", where + ".")).strip().lower()
        base = product.split("-")[0]  # biosimilar suffixes such as filgrastim-sndz name the same ingredient
        if base not in GCSF_PRODUCTS:
            raise HistoryError(f"{where}.product: unknown G-CSF product {dose['product']!r}")
        gcsf_hours.append(hours(moment))
        products.append(GCSF_PRODUCTS[base])

    count_hours, ancs = [], []
    ignored = 0
    set_aside: list[str] = []
    for index, raw in enumerate(_list(history, "counts")):
        where = f"counts[{index}]"
        count = _item(raw, where)
        moment = clock.parse(_require(count, "time", where + "."), where + ".time")
        value = _number(_require(count, "anc", where + "."), where + ".anc", minimum=0)
        unit = _require(count, "unit", where + ".")
        factor = UNIT_TO_1E9_PER_L.get(str(unit).strip().lower().replace(" ", "").replace("µ", "u"))
        if factor is None:
            raise HistoryError(f"{where}.unit: unknown unit {unit!r}")
        anc = value * factor
        if anc > MAX_PLAUSIBLE_ANC_1E9_PER_L:
            # One impossible count (a unit mix-up, or a G-CSF-boosted count hit by a lab error) is set
            # aside, not allowed to refuse the whole history: the other counts still say a lot.
            set_aside.append(f"{where}: {value:g} {unit} is {anc:g} x10^9/L, not plausible (a unit "
                             "mix-up or a lab error?); set aside, check it with the lab")
            continue
        if as_of is not None and moment > as_of:
            ignored += 1
            continue
        count_hours.append(hours(moment))
        ancs.append(anc)

    parsed = History(id=history.get("id"), regimen=regimen, cycle_start=start, dose_hours=dose_hours,
                     dose_fractions=fractions, gcsf_hours=gcsf_hours, gcsf_products=products,
                     count_hours=count_hours, anc_1e9_per_l=ancs,
                     as_of_h=hours(as_of) if as_of is not None else None)
    if ignored:
        parsed.warnings.append(f"{ignored} count(s) after as_of were ignored")
    parsed.warnings.extend(set_aside)
    return parsed

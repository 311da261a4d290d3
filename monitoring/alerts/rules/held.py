"""Counts kept for review (the exceptions queue), not stored: graded under every reading, and alerted.

Doubt fails safe (issue 21, item 5): a count held as a likely unit or decimal slip is graded as
received AND under the slip its hold names (clinical.held_readings); the alert follows the worst
reading, so "80 x10^9/L" held as probably cells/uL is a grade 4 (0.08) until the lab says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from monitoring import clinical
from monitoring.alerts.rules.facts import (
    CRITICAL,
    HELD_RESULT,
    HELD_TEMPERATURE,
    HIGH,
    UNREADABLE_HELD,
    UNREGISTERED_RESULT,
    Finding,
)


@dataclass(frozen=True)
class HeldCount:
    """A count of a known patient kept in the exceptions queue, with every reading its hold names."""

    exception_id: int
    readings: tuple[clinical.Reading, ...]  # as received first (if plausible), then the suspected slips
    received: str  # the number and unit as received: "80 x10^9/L"
    collected_at: str  # as received: the time may be what kept it (e.g. the hour the clocks go back)
    problems: str

    @property
    def worst(self) -> clinical.Reading | None:
        return min(self.readings, key=lambda r: r.anc_1e9_per_l, default=None)


@dataclass(frozen=True)
class UnreadableCount:
    """A count of a known patient kept in the exceptions queue because its value cannot be read."""

    exception_id: int
    received: str  # the value and unit as received: "1,2 x10^9/L"
    collected_at: str
    problems: str


def held_result(held: list[HeldCount]) -> Finding | None:
    """Rule 8: a count held for review that is grade 3 or 4 under any of its readings.

    Critical if any reading is grade 4 (to the team at once, escalated like any critical): the
    value that looks like a mistake may be right, or the mistake may hide a grade 4 ("80 x10^9/L"
    that is 80 cells/uL). High if the worst reading is grade 3.
    """
    severe = [h for h in held if h.worst is not None and h.worst.anc_1e9_per_l < clinical.GRADE3_BELOW]
    if not severe:
        return None
    worst = min(severe, key=lambda h: (h.worst.anc_1e9_per_l, h.exception_id))
    grade = worst.worst.grade
    action = ("confirm with the lab now, and meanwhile treat the patient as grade 4 neutropenia: check for fever "
              "and signs of infection" if grade == 4 else "confirm with the lab")
    evidence = {"anc_1e9_per_l": str(worst.worst.anc_1e9_per_l), "ctcae_grade": grade,
                "readings": [{"reading": r.words, "anc_1e9_per_l": str(r.anc_1e9_per_l), "ctcae_grade": r.grade}
                             for r in worst.readings]}
    return _held_for_review(HELD_RESULT, CRITICAL if grade == 4 else HIGH, worst, ("collected", worst.collected_at),
                            "; ".join(_reading_words(r) for r in worst.readings), action, evidence,
                            held=[h.exception_id for h in severe], alike=len(severe))


def _held_for_review(kind: str, severity: int, worst: HeldCount | HeldTemperature, taken: tuple[str, str],
                     readings: str, action: str, evidence: dict, *, held: list[int], alike: int) -> Finding:
    """Return the finding of a value held for review, read every way its hold names, worst first.

    One shape for a held count and a held temperature: what arrived, when, how many more alike are
    held, every reading, what to do meanwhile, why it was held and where to decide on it.
    `taken`: ("collected" or "taken", the time as received, empty if none was read).
    """
    verb, at = taken
    when = f"{verb} {at or 'at a time not read'}"
    others = f" ({alike - 1} more held)" if alike > 1 else ""
    message = (f"{worst.received} held for review, not stored ({when}){others}: {readings}: {action}. Held "
               f"because: {worst.problems.rstrip('.')}. Open it in the exceptions queue "
               f"(/import/exceptions/{worst.exception_id}/): store it if it is right, or dismiss it with a reason.")
    evidence = {"exception_id": worst.exception_id, **evidence, "received": worst.received, "held": sorted(held)}
    return Finding(kind, severity, message, evidence)


def _reading_words(reading: clinical.Reading) -> str:
    """Return one reading in words: "if it is cells/uL it is 0.080 x10^9/L, grade 4"."""
    return f"{reading.words} it is {reading.anc_1e9_per_l} x10^9/L, grade {reading.grade}"


def unreadable_held(unreadable: list[UnreadableCount]) -> Finding | None:
    """Rule 8b: a count of a known patient held because its value cannot be read ("1,2") [high].

    Nothing can grade it, so nothing else would tell anyone a count arrived: it may be the
    grade 4 of the day.
    """
    if not unreadable:
        return None
    first = min(unreadable, key=lambda u: u.exception_id)
    others = f" ({len(unreadable) - 1} more held)" if len(unreadable) > 1 else ""
    message = (f"A count arrived that cannot be read: {first.received} (collected "
               f"{first.collected_at or 'at a time not read'}){others}. It is not stored and not graded: ask the "
               f"lab for the value. Held because: {first.problems.rstrip('.')}. Open it in the exceptions queue "
               f"(/import/exceptions/{first.exception_id}/) to fix it, or dismiss it with a reason.")
    evidence = {"exception_id": first.exception_id, "received": first.received,
                "held": sorted(u.exception_id for u in unreadable)}
    return Finding(UNREADABLE_HELD, HIGH, message, evidence)


@dataclass(frozen=True)
class HeldTemperature:
    """A temperature of a known patient kept in the exceptions queue, with every reading it may be."""

    exception_id: int
    readings: tuple[tuple[str, Decimal], ...]  # (words, °C): clinical.held_temperature_readings
    received: str  # "Temperature 101.3 C"
    taken_at: str
    problems: str

    @property
    def hottest(self) -> Decimal | None:
        return max((celsius for _, celsius in self.readings), default=None)


def held_temperature(held: list[HeldTemperature]) -> Finding | None:
    """Rule 8d: a temperature of a known patient held for review: a fever under any reading, or unreadable.

    Critical when any reading is 38.0 °C or more (a Fahrenheit value sent as Celsius, a bad time, a
    comma): with the reading not stored, no fever rule can see it, and with one reading nothing can
    rule out that it is sustained (NICE CG151: higher than 38 C; IDSA 2010: 38.0 C over an hour), so
    doubt fails safe as for an unregistered MRN. High when no reading can be made of it at all.
    """
    febrile = [h for h in held if h.hottest is not None and h.hottest >= clinical.FEVER_SUSTAINED_C]
    unreadable = [h for h in held if not h.readings]
    if febrile:
        worst = max(febrile, key=lambda h: (h.hottest, -h.exception_id))
        readings = [f"{words} {celsius} °C" for words, celsius in worst.readings]
        if not worst.readings[0][0].startswith("as received"):
            readings.insert(0, "as received it is not a body temperature")
        action = ("a possible fever in a patient on monitoring: assess the patient now and treat as possible "
                  "neutropenic sepsis if on chemotherapy (NICE CG151), and confirm the reading")
        return _held_for_review(HELD_TEMPERATURE, CRITICAL, worst, ("taken", worst.taken_at), "; ".join(readings),
                                action, {"temperature_c": str(worst.hottest)},
                                held=[h.exception_id for h in febrile + unreadable], alike=len(febrile))
    if unreadable:
        first = min(unreadable, key=lambda h: h.exception_id)
        message = (f"A temperature arrived that cannot be read: {first.received} (taken "
                   f"{first.taken_at or 'at a time not read'}). It is not stored and no fever rule can see it: "
                   f"check the patient's temperature. Held because: {first.problems.rstrip('.')}. Open it in the "
                   f"exceptions queue (/import/exceptions/{first.exception_id}/) to fix it, or dismiss it.")
        evidence = {"exception_id": first.exception_id, "received": first.received,
                    "held": sorted(h.exception_id for h in unreadable)}
        return Finding(HELD_TEMPERATURE, HIGH, message, evidence)
    return None


@dataclass(frozen=True)
class UnregisteredResult:
    """A result kept in the exceptions queue because nobody has registered its MRN."""

    exception_id: int
    mrn: str
    received: str  # as received: "ANC 0.3 x10^9/L", "temperature 38.6 C"
    collected_at: str
    readings: tuple[clinical.Reading, ...] = ()  # a count's readings (clinical.held_readings)
    temperature_c: Decimal | None = None


def unregistered_result(result: UnregisteredResult) -> Finding | None:
    """Rule 8c: a grade 3-4 count (under any reading) or a raised temperature for an unregistered MRN.

    Critical, told at once to a named list (NEUTROWATCH["UNREGISTERED_RESULT_RECIPIENTS"]): with no
    patient there is no team to tell, and the result may be a neutropenic patient's on the day she
    is registered. A single temperature of 38.0 C or more counts (NICE CG151: higher than 38 C is a
    fever; IDSA 2010: 38.0 C sustained for an hour): with one reading and no record nothing can
    confirm or rule out that it is sustained, so doubt fails safe.
    """
    worst = min(result.readings, key=lambda r: r.anc_1e9_per_l, default=None)
    if worst is not None and worst.anc_1e9_per_l < clinical.GRADE3_BELOW:
        what = "; ".join(_reading_words(r) for r in result.readings)
        action = ("a possible grade 4 neutropenia: find the patient, register the MRN and re-try the result, or "
                  "confirm the value with the lab" if worst.grade == 4 else
                  "grade 3 neutropenia: find the patient, register the MRN and re-try the result")
        evidence = {"ctcae_grade": worst.grade, "anc_1e9_per_l": str(worst.anc_1e9_per_l)}
    elif result.temperature_c is not None and result.temperature_c >= clinical.FEVER_SUSTAINED_C:
        what = f"{result.temperature_c} °C"
        action = ("a possible fever in a patient who may be on chemotherapy: find the patient now and treat as "
                  "possible neutropenic sepsis if so (NICE CG151)")
        evidence = {"temperature_c": str(result.temperature_c)}
    else:
        return None
    message = (f"{result.received} for MRN {result.mrn}, which nobody has registered (collected "
               f"{result.collected_at or 'at a time not read'}): {what}: {action}. Kept in the exceptions queue "
               f"(/import/exceptions/{result.exception_id}/).")
    evidence.update(mrn=result.mrn, exception_id=result.exception_id, received=result.received)
    return Finding(UNREGISTERED_RESULT, CRITICAL, message, evidence)

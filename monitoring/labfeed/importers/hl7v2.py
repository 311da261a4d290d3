"""HL7 v2.x ORU^R01 results (MLLP framing already removed), parsed with the `hl7` package.

PID-3 MRN (the repetition of type MR, else the first), OBR-3 filler order number as the
accession (else OBR-2, else MSH-10 and OBR-1), OBR-7 / OBX-14 collection time, OBX-3 LOINC,
OBX-5 value, OBX-6 unit, OBX-11 status: F final, C corrected (replaces the earlier result),
D / W deleted or wrong (removes it), P and other non-final statuses are held back and reported.
A file may hold many messages; segments may end in \\r, \\n or \\r\\n.
"""

from __future__ import annotations

import re
from datetime import datetime

import hl7
from hl7.datatypes import parse_datetime

from monitoring.labfeed.importers import codes
from monitoring.labfeed.importers.records import (
    CORRECTION,
    FINAL,
    REMOVAL,
    CountRecord,
    FieldError,
    Measured,
    Parsed,
    TemperatureRecord,
)
from monitoring.labfeed.importers.validation import aware, censored_field

STATUSES = {"F": FINAL, "C": CORRECTION, "D": REMOVAL, "W": REMOVAL}
HELD_STATUSES = {"P": "preliminary", "R": "not verified", "S": "partial", "I": "pending", "A": "amended, not final"}
ENVELOPE = ("FHS", "BHS", "BTS", "FTS")
_LINE_END = re.compile(r"\r\n|\r|\n")


# MSH-18, the message's character set (HL7 table 0211), for a message that is not UTF-8.
CHARSETS = {"ASCII": "ascii", "8859/1": "iso-8859-1", "8859/2": "iso-8859-2", "8859/3": "iso-8859-3",
            "8859/4": "iso-8859-4", "8859/5": "iso-8859-5", "8859/6": "iso-8859-6", "8859/7": "iso-8859-7",
            "8859/8": "iso-8859-8", "8859/9": "iso-8859-9", "8859/15": "iso-8859-15", "UNICODE UTF-8": "utf-8"}


def decode(data: bytes) -> str:
    """Return the text of HL7 v2 bytes: UTF-8, else the character set MSH-18 names, else ISO 8859-1.

    Many laboratory systems send ISO 8859-1 (a patient called Müller), with or without saying so in
    MSH-18; refusing those messages would refuse their results. NeutroWatch reads only ASCII fields
    (MRN, times, codes, values, units), so a wrong guess can only garble a name it does not use.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    header = data.lstrip(b"\x0b\r\n ").split(b"\r", 1)[0].split(b"\n", 1)[0]
    fields = header.split(header[3:4]) if header.startswith(b"MSH") and len(header) > 3 else []
    charset = fields[17].decode("ascii", "replace").split("~")[0].strip().upper() if len(fields) > 17 else ""
    try:
        return data.decode(CHARSETS.get(charset, "iso-8859-1"))
    except UnicodeDecodeError:  # bytes that are not what MSH-18 says (ASCII with 8-bit bytes)
        return data.decode("iso-8859-1")


def split(text: str) -> tuple[list[list[str]], int]:
    """Return the messages of a text (each a list of segments) and the number of a segment before any MSH (or 0).

    Joining the segments of the messages with \\r gives a text that splits into the same messages.
    """
    lines = [line for line in _LINE_END.split(text.replace("\x0b", "").replace("\x1c", "")) if line.strip()]
    messages: list[list[str]] = []
    for number, line in enumerate(lines, 1):
        if line.startswith("MSH"):
            messages.append([line])
        elif line[:3] in ENVELOPE:
            continue
        elif messages:
            messages[-1].append(line)
        else:
            return messages, number
    return messages, 0


def parse(text: str) -> Parsed:
    """Parse one or more ORU^R01 messages into records and problems."""
    parsed = Parsed()
    messages, stray = split(text)
    if stray:
        parsed.problem(f"segment {stray}", "MSH", "a message must start with an MSH segment", unit="")
        return parsed
    for number, segments in enumerate(messages, 1):
        # Each message is a unit of acceptance: stored or kept for review on its own.
        where = f"message {number}"
        raw = "\r".join(segments)
        parsed.begin(where, raw)
        try:
            message = hl7.parse(raw)
        except Exception as exc:  # the parser raises ParseException, IndexError, ... on garbage
            parsed.problem(where, "message", f"not a readable HL7 v2 message ({exc.__class__.__name__}: {exc})")
            continue
        try:
            _message(message, where, parsed)
        except FieldError as exc:
            parsed.problem(where, exc.field, exc.reason)
    parsed.end()
    return parsed


def _get(segment, field: int, component: int = 1, repeat: int = 1) -> str:
    try:
        return str(segment.extract_field(1, field, repeat, component, 1) or "").strip()
    except (IndexError, KeyError, ValueError, TypeError):
        return ""


def _time(text: str, field: str) -> datetime:
    digits = text.split("+")[0].split("-")[0]
    if len(digits) < 12:
        raise FieldError(field, f"{text!r} has no time of day" if text else "the collection time is missing")
    if not (text.isascii() and digits.replace(".", "").isdigit()):
        raise FieldError(field, f"{text[:40]!r} is not an HL7 date and time (YYYYMMDDHHMM[SS][+ZZZZ])")
    try:
        moment = parse_datetime(text)
    except (ValueError, TypeError, OverflowError):
        raise FieldError(field, f"{text!r} is not an HL7 date and time (YYYYMMDDHHMM[SS][+ZZZZ])") from None
    return aware(moment, field)


def _mrn(pid) -> str:
    first = ""
    for repeat in range(1, 11):
        value = _get(pid, 3, 1, repeat)
        if not value:
            break
        if _get(pid, 3, 5, repeat).upper() == "MR":
            return value
        first = first or value
    return first


def _message(message, where: str, parsed: Parsed) -> None:
    msh = message.segment("MSH")
    if (_get(msh, 9, 1), _get(msh, 9, 2)) != ("ORU", "R01"):
        raise FieldError("MSH-9", f"message type {_get(msh, 9, 1)}^{_get(msh, 9, 2)} is not ORU^R01")
    control_id = _get(msh, 10)
    groups = _patient_groups(message)
    if not groups:
        raise FieldError("PID", "the message has no PID segment")
    if len(groups) == 1:
        pid, segments = groups[0]
        mrn = _mrn(pid)
        parsed.note("mrn", mrn)
        _orders(segments, where, mrn, control_id, parsed)
        return
    # Several patients in one message (ORU^R01 repeats PATIENT_RESULT): each patient's results are a
    # unit of their own, as if sent alone (MSH + that PID group), so that one patient's unknown MRN or
    # bad value keeps nothing of another patient's back, and each OBR belongs to the PID above it.
    parsed.units.pop(where, None)
    for number, (pid, segments) in enumerate(groups, 1):
        unit = f"{where}, patient {number}"
        parsed.begin(unit, "\r".join(str(segment) for segment in (msh, pid, *segments)))
        try:
            mrn = _mrn(pid)
            parsed.note("mrn", mrn)
            # Without OBR-3/OBR-2 a result is known by MSH-10 and OBR-1, which repeat across patients.
            _orders(segments, unit, mrn, f"{control_id}-P{number}" if control_id else "", parsed)
        except FieldError as exc:
            parsed.problem(unit, exc.field, exc.reason)


def _patient_groups(message) -> list[tuple[object, list]]:
    """Return each PID segment with the segments that follow it up to the next PID.

    Segments before the first PID other than the MSH (SFT, say) are not results and are left out;
    a result there (OBR, OBX) belongs to no patient: the message is kept for review with the reason.
    """
    groups: list[tuple[object, list]] = []
    for segment in message:
        kind = segment[0][0]
        if kind == "PID":
            groups.append((segment, []))
        elif groups and kind != "MSH":
            groups[-1][1].append(segment)
        elif kind in ("OBR", "OBX") and any(s[0][0] == "PID" for s in message):
            raise FieldError(kind, f"an {kind} segment comes before the PID segment: whose result is it?")
    return groups


def _orders(segments: list, where: str, mrn: str, control_id: str, parsed: Parsed) -> None:
    """Read one patient's OBR groups (each OBR with the OBX segments after it)."""
    orders: list[_Order] = []
    for segment in segments:
        kind = segment[0][0]
        if kind == "OBR":
            orders.append(_Order(segment, where, mrn, control_id))
        elif kind == "OBX":
            if not orders:
                raise FieldError("OBX", "an OBX segment comes before any OBR")
            orders[-1].add(segment, parsed)
    if not orders:
        raise FieldError("OBR", "the message has no OBR segment")
    for order in _one_per_specimen(orders, parsed):
        order.finish(parsed)


def _one_per_specimen(orders: list[_Order], parsed: Parsed) -> list[_Order]:
    """Join the parts of one blood count that a laboratory sends as several OBRs of one collection time.

    Many laboratories send the full blood count (WBC, haemoglobin, ...) and the differential
    (neutrophils) as two orders: alone, the first holds no neutrophil result and the second maybe
    only a percentage. An order that is not a count by itself (no ANC, no WBC with neutrophil %)
    is joined to the earlier order of the same collection time; two complete counts stay two.
    """
    kept: list[_Order] = []
    for order in orders:
        partner = next((earlier for earlier in kept if earlier.joins(order)), None)
        if partner is None:
            kept.append(order)
        else:
            partner.absorb(order, parsed)
    return kept


class _Order:
    """The observations of one OBR: one blood count, plus any temperatures."""

    def __init__(self, obr, message_where: str, mrn: str, control_id: str):
        self.number = _get(obr, 1) or "1"
        self.where = f"{message_where} OBR {self.number}"
        self.mrn = mrn
        self.accession = _get(obr, 3) or _get(obr, 2) or (f"{control_id}-{self.number}" if control_id else "")
        self.obr_time = _get(obr, 7)
        self.noted = False
        self.values: dict[str, Measured] = {}
        self.statuses: set[str] = set()
        self.collected_at: datetime | None = None
        self.problems = 0

    def add(self, obx, parsed: Parsed) -> None:
        code, system = _get(obx, 3, 1), _get(obx, 3, 3).upper()
        if system not in ("LN", "LOINC", "") and _get(obx, 3, 6).upper() in ("LN", "LOINC"):
            code = _get(obx, 3, 4)
        role = codes.loinc_role(code)
        if role is None:
            parsed.ignored += 1
            return
        where = f"{self.where} OBX {_get(obx, 1) or '?'}"
        status_letter = _get(obx, 11).upper()
        self._note(parsed, role, obx)
        try:
            moment = _time(_get(obx, 14) or self.obr_time, "OBX-14" if _get(obx, 14) else "OBR-7")
            if status_letter in HELD_STATUSES:
                parsed.held_back.append(f"{where}: {HELD_STATUSES[status_letter]} result ({code}) held back "
                                        "until the final one arrives")
                self.statuses.add("held")
                return
            if status_letter not in STATUSES:
                raise FieldError("OBX-11", f"unknown result status {status_letter!r}: expected F, C, P, D or W")
            status = STATUSES[status_letter]
            qualifier, value = "", None
            if status != REMOVAL:
                censored = censored_field(_value_text(obx), f"OBX-5 ({code})")
                if censored is None:
                    raise FieldError(f"OBX-5 ({code})", "the value is missing")
                qualifier, value = censored
                if qualifier and role not in codes.COUNT_ROLES:
                    raise FieldError(f"OBX-5 ({code})", f"a censored {role} ({qualifier}{value}) is not a result")
        except FieldError as exc:
            parsed.problem(where, exc.field, exc.reason)
            self.problems += 1
            return
        unit = _get(obx, 6, 1)
        if role == codes.TEMPERATURE:
            parsed.add(TemperatureRecord(
                where, self.mrn, moment, f"{self.accession}-{_get(obx, 1) or 'T'}" if self.accession else "",
                status, value, unit,
            ))
            return
        self.statuses.add(status)
        self.values[role] = Measured(value, unit, f"OBX-5 ({code})", f"OBX-6 ({code})", qualifier)
        if self.collected_at is None or role == codes.ANC:
            self.collected_at = moment

    @property
    def complete(self) -> bool:
        """True when this order alone is a neutrophil count: an ANC, or a WBC with its neutrophil %."""
        return codes.ANC in self.values or (codes.WBC in self.values and codes.NEUTROPHIL_PCT in self.values)

    def joins(self, later: _Order) -> bool:
        """True when `later` holds the rest of this order's count (the same specimen, one of them incomplete)."""
        return (bool(self.values) and bool(later.values) and self.collected_at == later.collected_at
                and not (self.complete and later.complete))

    def absorb(self, later: _Order, parsed: Parsed) -> None:
        """Take the values of a later order of the same specimen; a value both give differently is a problem."""
        for role, measured in later.values.items():
            mine = self.values.get(role)
            if mine is not None and (mine.value, mine.qualifier, mine.unit) != (measured.value, measured.qualifier,
                                                                               measured.unit):
                parsed.problem(later.where, measured.field, f"{mine.qualifier}{mine.value} {mine.unit} in {self.where} "
                               f"and {measured.qualifier}{measured.value} {measured.unit} here, for one specimen")
                self.problems += 1
            elif mine is None:
                self.values[role] = measured
        self.statuses |= later.statuses
        self.problems += later.problems
        self.where = f"{self.where}+{later.number}"

    def finish(self, parsed: Parsed) -> None:
        if not self.values or self.problems:
            return
        if "held" in self.statuses:
            parsed.held_back.append(f"{self.where}: the count waits for its preliminary parts to be final")
            return
        if REMOVAL in self.statuses:
            status = REMOVAL
        elif CORRECTION in self.statuses:
            status = CORRECTION
        else:
            status = FINAL
        parsed.add(CountRecord(self.where, self.mrn, self.collected_at, self.accession, status, self.values))

    def _note(self, parsed: Parsed, role: str, obx) -> None:
        """Keep the values as received, so a message kept for review opens in the fix form filled in."""
        if not self.noted:
            self.noted = True
            parsed.note("accession", self.accession)
            time_text = _get(obx, 14) or self.obr_time
            try:
                parsed.note("collected_at", _time(time_text, "OBR-7").isoformat())
            except FieldError:
                parsed.note("collected_at", time_text)
        if role == codes.TEMPERATURE:
            parsed.note("temperature", _value_text(obx))
            parsed.note("temperature_unit", _get(obx, 6, 1))
            return
        parsed.note(role, _value_text(obx))
        if role in codes.COUNT_ROLES:
            parsed.note("unit", _get(obx, 6, 1))


def _value_text(obx) -> str:
    """Return OBX-5; a structured numeric (SN: "<^0.1") is joined back into "<0.1" ("=^0.3" is 0.3)."""
    if _get(obx, 2).upper() == "SN":
        comparator = _get(obx, 5, 1)
        return ("" if comparator == "=" else comparator) + _get(obx, 5, 2).strip()
    return _get(obx, 5)

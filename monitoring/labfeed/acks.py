"""HL7 v2 ACKs for the MLLP listener (mllp.py): AA, AE or AR, MSA-3 and ERR segments in words.

Built by the `hl7` package from the message's MSH (sender and receiver swapped), or from scratch when
there is no MSH it can turn round. Each problem names its place within the message, its field and why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import hl7
from django.utils import timezone

from monitoring.labfeed.importers.records import ImportReport, Problem, UnitOutcome

APPLICATION = "NEUTROWATCH"
MAX_ERR_SEGMENTS = 20


@dataclass
class Answer:
    """The ACK to send back and the one log line that says what happened."""

    ack: bytes
    code: str
    control_id: str
    note: str


def msh_field(message, field: int, component: int = 1) -> str:
    try:
        return str(message.segment("MSH").extract_field(1, field, 1, component, 1) or "").strip()
    except Exception:  # a missing field or component
        return ""


def unavailable(message) -> Answer:
    return answer(message, "AE", "the database is unavailable: nothing was stored; send the message again",
                  [("", "207", "Application internal error", "database unavailable")])


def answer_unit(message, outcome: UnitOutcome, batch: int) -> Answer:
    """The ACK for one message of a batch, the same as it would have had alone."""
    note = (f"stored={int(outcome.stored)} kept={len(outcome.kept)} duplicates={outcome.duplicates} "
            f"held_back={len(outcome.held_back)} batch={batch}")
    if outcome.problems:
        return answer(message, "AE", f"kept for review: {problems_text(outcome.problems, outcome.unit)}",
                      errors(outcome.problems, outcome.unit), note=note)
    if outcome.read_nothing:  # alone, "no results found" refuses the file
        reason = "file: content: no results found"
        return answer(message, "AR", f"refused: {reason}", [("", "207", "Application internal error", reason)])
    return answer(message, "AA", "", [], note=note)


def _where(where: str, unit: str) -> str:
    """A problem's place within its message ("OBR 1 OBX 1"): the sender knows which message it sent."""
    if unit and where.startswith(unit):
        return where[len(unit):].strip(" ,") or "message"
    return where


def _words(problem: Problem, unit: str) -> str:
    return f"{_where(problem.where, unit)}: {problem.field}: {problem.reason}"


def problems_text(problems: list[Problem], unit: str = "") -> str:
    return "; ".join(_words(p, unit) for p in problems)[:500]


def errors(problems: list[Problem], unit: str = "") -> list[tuple[str, str, str, str]]:
    """ERR segments: (location, HL7 table 0357 code, its name, the problem in words)."""
    return [("", "207", "Application internal error", _words(p, unit)) for p in problems[:MAX_ERR_SEGMENTS]]


def report_note(report: ImportReport) -> str:
    return (f"stored={report.stored} kept={len(report.kept)} duplicates={report.duplicates} "
            f"corrected={report.corrected} held_back={len(report.held_back)}")


def answer(message, code: str, text: str, errors: list, note: str = "") -> Answer:
    """Return the ACK for a message, built by the hl7 package from its MSH (sender and receiver swapped)."""
    control_id = msh_field(message, 10)
    try:
        ack = message.create_ack(code, message_id=_new_id(), application=APPLICATION, facility=APPLICATION)
        msa = ack.segment("MSA")
    except Exception:  # an MSH with odd separators the package cannot turn round: build one from scratch
        return scratch_ack(code, control_id, text, errors, note)
    return _finish(ack, msa, code, control_id, text, errors, note)


def reject(message, reason: str) -> Answer:
    """An AR; without a readable MSH the ACK is built from scratch (MSA-2 is then empty)."""
    if message is not None:
        return answer(message, "AR", reason, [("", "200", "Unsupported message type", reason)])
    return scratch_ack("AR", "", reason, [("", "102", "Data type error", reason)])


def scratch_ack(code: str, control_id: str, text: str, errors: list, note: str = "") -> Answer:
    now = timezone.now().strftime("%Y%m%d%H%M%S")
    ack = hl7.parse(f"MSH|^~\\&|{APPLICATION}|{APPLICATION}|||{now}||ACK|{_new_id()}|P|2.5.1\rMSA|{code}|\r")
    msa = ack.segment("MSA")
    msa.assign_field(ack.escape(control_id), 2)
    return _finish(ack, msa, code, control_id, text, errors, note)


def _finish(ack, msa, code: str, control_id: str, text: str, errors: list, note: str) -> Answer:
    """MSA-3 in words and one ERR segment per problem, escaped with the message's own separators."""
    if text:
        msa.assign_field(ack.escape(text), 3)
    lines = [str(segment) for segment in ack]
    lines += [f"ERR||{location}|{number}^{name}^HL70357|E||||{ack.escape(words)}"
              for location, number, name, words in errors]
    return Answer(("\r".join(lines) + "\r").encode(), code, control_id, note or text)


def _new_id() -> str:
    return uuid.uuid4().hex[:20]

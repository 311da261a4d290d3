"""HL7 v2 over MLLP: a long-running listener that stores each ORU^R01 and answers it with an ACK.

Framing is the `hl7` package's asyncio MLLP support (`hl7.mllp.start_hl7_server`); each message
goes through the same importer as files and the API, in a worker thread (the database is
synchronous), and is acknowledged only after its transaction has committed:

- AA: stored, or already stored (same accession, or same MSH-10 when the message has no order
  number): a re-sent message is never stored twice;
- AE: read, but kept for review in the exceptions queue (problems in MSA-3 and ERR segments),
  or not stored because the database stayed unreachable (send it again);
- AR: not an HL7 v2 ORU^R01 message at all (malformed frame, not UTF-8, no MSH, another type).

A malformed frame, a dropped connection or a database restart does not stop the listener: the
frame is answered AR, the connection is closed, and database work is retried on a fresh
connection until `MLLP_DB_RETRY_SECONDS` have passed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import hl7
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.utils import timezone
from hl7.mllp import InvalidBlockError, start_hl7_server

from monitoring import importers
from monitoring.importers.common import ImportReport
from monitoring.models.results import Source

log = logging.getLogger("neutrowatch.mllp")

APPLICATION = "NEUTROWATCH"
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_ERR_SEGMENTS = 20
_SEGMENT_END = re.compile(r"\r\n|\r|\n")


@dataclass
class Answer:
    """The ACK to send back and the one log line that says what happened."""

    ack: bytes
    code: str
    control_id: str
    note: str


# --- One message -------------------------------------------------------------------------------


def process_message(block: bytes, peer: str, *, retry_seconds: float | None = None) -> Answer:
    """Store one MLLP block (the framing removed) and return its ACK. Runs in a worker thread."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        return _reject(None, "the message is not UTF-8 text")
    message = _header(text)
    if message is None:
        return _reject(None, "not an HL7 v2 message: no readable MSH segment")
    control_id = _field(message, 10)
    kind = (_field(message, 9, 1), _field(message, 9, 2))
    if kind != ("ORU", "R01"):
        return _reject(message, f"message type {kind[0]}^{kind[1]} is not accepted: send ORU^R01 results")
    report = _import_with_reconnect(text, peer, control_id, retry_seconds)
    if report is None:
        return _answer(message, "AE", "the database is unavailable: nothing was stored; send the message again",
                       [("", "207", "Application internal error", "database unavailable")])
    if report.refused:
        return _answer(message, "AR", "refused: " + _problems_text(report), _errors(report))
    if report.kept:
        return _answer(message, "AE", f"kept for review: {_problems_text(report)}", _errors(report),
                       note=_note(report))
    return _answer(message, "AA", "", [], note=_note(report))


def _header(text: str):
    """Return the parsed message (MSH and all), or None when it is not HL7 v2 at all."""
    segments = [s for s in _SEGMENT_END.split(text.strip("\x0b\x1c\r\n ")) if s.strip()]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
        return None
    try:
        message = hl7.parse("\r".join(segments))
        message.segment("MSH")
    except Exception:  # hl7 raises ParseException, KeyError, IndexError ... on garbage
        return None
    return message


def _field(message, field: int, component: int = 1) -> str:
    try:
        return str(message.segment("MSH").extract_field(1, field, 1, component, 1) or "").strip()
    except Exception:  # a missing field or component
        return ""


def _import_with_reconnect(text: str, peer: str, control_id: str, retry_seconds: float | None) -> ImportReport | None:
    """Import the message; on a lost database connection, reconnect and retry until the deadline."""
    deadline = time.monotonic() + (settings.MLLP_DB_RETRY_SECONDS if retry_seconds is None else retry_seconds)
    delay = 0.2
    while True:
        # Keep the thread's connection between messages (a new one per message would cost more than
        # the work); a broken one is replaced after the OperationalError it raises.
        if connection.connection is not None and connection.needs_rollback:
            connection.close()
        try:
            return importers.import_file(f"MLLP {peer} {control_id}"[:200], text, source=Source.MLLP, fmt="hl7",
                                         scope=importers.Scope(sender=f"MLLP {peer}"))
        except (OperationalError, InterfaceError) as exc:
            close_old_connections()
            connection.close()
            if time.monotonic() + delay > deadline:
                log.error("database unavailable, message %s not stored: %s", control_id, str(exc).splitlines()[0])
                return None
            log.warning("database unavailable (%s); retrying in %.1f s", str(exc).splitlines()[0], delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _problems_text(report: ImportReport) -> str:
    return "; ".join(f"{p.where}: {p.field}: {p.reason}" for p in report.problems)[:500]


def _errors(report: ImportReport) -> list[tuple[str, str, str, str]]:
    """ERR segments: (location, HL7 table 0357 code, its name, the problem in words)."""
    return [("", "207", "Application internal error", f"{p.where}: {p.field}: {p.reason}")
            for p in report.problems[:MAX_ERR_SEGMENTS]]


def _note(report: ImportReport) -> str:
    return (f"stored={report.stored} kept={len(report.kept)} duplicates={report.duplicates} "
            f"corrected={report.corrected} held_back={len(report.held_back)}")


# --- ACKs ----------------------------------------------------------------------------------------


def _answer(message, code: str, text: str, errors: list, note: str = "") -> Answer:
    """Return the ACK for a message, built by the hl7 package from its MSH (sender and receiver swapped)."""
    control_id = _field(message, 10)
    try:
        ack = message.create_ack(code, message_id=_new_id(), application=APPLICATION, facility=APPLICATION)
        msa = ack.segment("MSA")
    except Exception:  # an MSH with odd separators the package cannot turn round: build one from scratch
        return _scratch_ack(code, control_id, text, errors, note)
    if text:
        msa.assign_field(ack.escape(text), 3)
    lines = [str(segment) for segment in ack]
    lines += [f"ERR||{location}|{number}^{name}^HL70357|E||||{ack.escape(words)}"
              for location, number, name, words in errors]
    return Answer(("\r".join(lines) + "\r").encode(), code, control_id, note or text)


def _reject(message, reason: str) -> Answer:
    """An AR; without a readable MSH the ACK is built from scratch (MSA-2 is then empty)."""
    if message is not None:
        return _answer(message, "AR", reason, [("", "200", "Unsupported message type", reason)])
    return _scratch_ack("AR", "", reason, [("", "102", "Data type error", reason)])


def _scratch_ack(code: str, control_id: str, text: str, errors: list, note: str = "") -> Answer:
    now = timezone.now().strftime("%Y%m%d%H%M%S")
    ack = hl7.parse(f"MSH|^~\\&|{APPLICATION}|{APPLICATION}|||{now}||ACK|{_new_id()}|P|2.5.1\rMSA|{code}|\r")
    msa = ack.segment("MSA")
    msa.assign_field(ack.escape(control_id), 2)
    if text:
        msa.assign_field(ack.escape(text), 3)
    lines = [str(segment) for segment in ack]
    lines += [f"ERR||{location}|{number}^{name}^HL70357|E||||{ack.escape(words)}"
              for location, number, name, words in errors]
    return Answer(("\r".join(lines) + "\r").encode(), code, control_id, note or text)


def _new_id() -> str:
    return uuid.uuid4().hex[:20]


# --- The server ----------------------------------------------------------------------------------


class Listener:
    """The asyncio MLLP server: one task per connection, database work in a thread pool."""

    def __init__(self, host: str, port: int, threads: int = 4):
        self.host, self.port = host, port
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mllp-db")
        self.server = None

    async def start(self) -> tuple[str, int]:
        self.server = await start_hl7_server(self.on_client, self.host, self.port, limit=MAX_MESSAGE_BYTES)
        return self.server.sockets[0].getsockname()[:2]

    async def serve(self, on_ready=None) -> None:
        address = await self.start()
        if on_ready is not None:
            on_ready(address)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        self.server.close()
        await self.server.wait_closed()
        self.executor.shutdown(wait=True)  # finish (and acknowledge) what is in hand

    async def on_client(self, reader, writer) -> None:
        host, port = (writer.get_extra_info("peername") or ("?", "?"))[:2]
        peer = f"{host}:{port}"
        log.info("%s connected", peer)
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    block = await reader.readblock()
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        log.info("%s closed mid-message (%d bytes unacknowledged, nothing stored)", peer,
                                 len(exc.partial))
                    break
                except InvalidBlockError:
                    answer = _reject(None, "malformed MLLP frame: it does not start with <VT> (0x0b)")
                except ValueError:
                    answer = _reject(None, f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
                else:
                    started = time.monotonic()
                    try:
                        answer = await loop.run_in_executor(self.executor, process_message, block, peer)
                    except Exception:  # a bug must cost one message an AE, not the connection
                        log.exception("%s message could not be processed", peer)
                        answer = _scratch_ack("AE", "", "internal error: nothing was stored; send the message again",
                                              [("", "207", "Application internal error", "internal error")])
                    answer.note += f" {1000 * (time.monotonic() - started):.0f} ms"
                writer.writeblock(answer.ack)
                await writer.drain()
                log.info("%s %s %s %s", peer, answer.control_id or "-", answer.code, answer.note)
        except (ConnectionError, OSError) as exc:
            log.info("%s connection lost: %s", peer, exc)
        except Exception:  # never let one connection take the listener down
            log.exception("%s unexpected error; connection closed", peer)
        finally:
            writer.close()
            log.info("%s disconnected", peer)

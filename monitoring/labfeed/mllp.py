"""HL7 v2 over MLLP: a long-running listener that stores each ORU^R01 and answers it with an ACK.

Framing is the `hl7` package's asyncio MLLP support (`hl7.mllp.start_hl7_server`); each message
goes through the same importer as files and the API, in a worker thread (the database is
synchronous), and is acknowledged only after its transaction has committed. A sender that
pipelines (sends further messages before the ACKs come back) has its waiting messages imported
together, as one multi-message file: one transaction, each message stored or kept for review on
its own, then one ACK per message in the order received (group commit). ACK codes (built in
`acks.py`):

- AA: stored, or already stored (same accession, or same MSH-10 when the message has no order
  number): a re-sent message is never stored twice;
- AE: read, but kept for review in the exceptions queue (problems in MSA-3 and ERR segments),
  or not stored because the database stayed unreachable (send it again);
- AR: not an HL7 v2 ORU^R01 message at all (malformed frame, not UTF-8, no MSH, another type).

A malformed frame, a dropped connection or a database restart does not stop the listener: the
frame is answered AR, the connection is closed, and database work is retried on a fresh
connection until `MLLP_DB_RETRY_SECONDS` have passed.

The listener authenticates nobody and writes for every team: it takes connections only from the
addresses in `MLLP_ALLOWED_PEERS` (the laboratory's interface engine) and hangs up on anyone else
before reading a byte, with a warning in its log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import hl7
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from hl7.mllp import InvalidBlockError, start_hl7_server

from monitoring.labfeed import acks, importers
from monitoring.labfeed.importers import hl7v2
from monitoring.labfeed.importers.records import ImportReport
from monitoring.models.results import Source

log = logging.getLogger("neutrowatch.mllp")

MAX_MESSAGE_BYTES = 1024 * 1024
MAX_BATCH_MESSAGES = 100  # group commit: at most this many pipelined messages in one transaction
MAX_BATCH_BYTES = 1024 * 1024
# A sender seen pipelining (its last batch held several messages) refills its window as the ACKs
# come back; waiting this long for the refill gives full batches instead of alternating small and
# large ones. A sender that waits for each ACK never waits here.
PIPELINE_LINGER_S = 0.002
ONE = "message 1"  # the unit name of a block that is one message
_SEGMENT_END = re.compile(r"\r\n|\r|\n")


# --- One message -------------------------------------------------------------------------------


def process_message(block: bytes, peer: str, *, retry_seconds: float | None = None) -> acks.Answer:
    """Store one MLLP block (the framing removed) and return its ACK. Runs in a worker thread."""
    return process_blocks([block], peer, retry_seconds=retry_seconds)[0]


def _read(block: bytes) -> tuple[str, object, list[list[str]], bool] | acks.Answer:
    """Return (text, MSH, messages, batchable) for an ORU^R01, or the AR for anything else.

    `batchable`: the block is exactly one message, so that it can be imported with others as one
    multi-message text whose "message N" is the Nth block.
    """
    text = hl7v2.decode(block)  # UTF-8, else MSH-18's character set, else ISO 8859-1
    message = _header(text)
    if message is None:
        return acks.reject(None, "not an HL7 v2 message: no readable MSH segment")
    kind = (acks.msh_field(message, 9, 1), acks.msh_field(message, 9, 2))
    if kind != ("ORU", "R01"):
        return acks.reject(message, f"message type {kind[0]}^{kind[1]} is not accepted: send ORU^R01 results")
    messages, stray = hl7v2.split(text)
    return text, message, messages, not stray and len(messages) == 1 and "\x00" not in text


def _header(text: str):
    """Return the parsed MSH segment (enough for MSH-9, MSH-10 and the ACK), or None when it is not HL7 v2.

    Only the MSH is parsed here: the importer parses the whole message once.
    """
    segments = [s for s in _SEGMENT_END.split(text.strip("\x0b\x1c\r\n ")) if s.strip()]
    if not segments or not segments[0].startswith("MSH") or len(segments[0]) < 8:
        return None
    try:
        message = hl7.parse(segments[0])
        message.segment("MSH")
    except Exception:  # hl7 raises ParseException, KeyError, IndexError ... on garbage
        return None
    return message


def _store_one(text: str, message, peer: str, retry_seconds: float | None, unit: str = "") -> acks.Answer:
    """Import one block on its own (a strict sender's message, or one of a batch taken one by one).

    `unit`: the block is that one message, whose name the problems in the ACK need not repeat.
    """
    control_id = acks.msh_field(message, 10)
    try:
        report = _import_with_reconnect(f"MLLP {peer} {control_id}", text, control_id, peer, retry_seconds)
    except Exception:  # a bug met by this message costs it an AE (send again), not the connection or the batch
        log.exception("%s message %s could not be processed", peer, control_id)
        return acks.answer(message, "AE", "internal error: nothing was stored; send the message again",
                            [("", "207", "Application internal error", "internal error")])
    if report is None:
        return acks.unavailable(message)
    if report.refused:
        return acks.answer(message, "AR", "refused: " + acks.problems_text(report.problems, unit),
                            acks.errors(report.problems, unit))
    if report.kept:
        return acks.answer(message, "AE", f"kept for review: {acks.problems_text(report.problems, unit)}",
                            acks.errors(report.problems, unit), note=acks.report_note(report))
    return acks.answer(message, "AA", "", [], note=acks.report_note(report))


# --- Many messages: group commit --------------------------------------------------------------


def process_blocks(blocks: list[bytes], peer: str, *, retry_seconds: float | None = None) -> list[acks.Answer]:
    """Store the blocks a sender has pipelined and return one ACK per block, in order. Runs in a worker thread.

    Consecutive ORU^R01 blocks are imported together as one multi-message text: one transaction,
    every good message stored and every bad one kept for review as its own unit, the recomputes
    enqueued once per affected cycle on commit. The ACKs are built after the commit. A strict sender
    (one message in flight) gives a batch of one: the message is imported on its own.
    """
    answers: list[acks.Answer | None] = [None] * len(blocks)
    run: list[tuple[int, object, str, list[str]]] = []  # (index, MSH, text, segments) of batchable blocks
    for index, block in enumerate(blocks):
        read = _read(block)
        if isinstance(read, acks.Answer):
            answers[index] = read  # refused unread: it stores nothing, so the run goes on
            continue
        text, message, messages, batchable = read
        if batchable:
            run.append((index, message, text, messages[0]))
            continue
        _store_run(run, answers, peer, retry_seconds)  # keep the order of what is stored
        run = []
        answers[index] = _store_one(text, message, peer, retry_seconds)
    _store_run(run, answers, peer, retry_seconds)
    return answers


def _store_run(run: list[tuple[int, object, str, list[str]]], answers: list, peer: str,
               retry_seconds: float | None) -> None:
    if len(run) < 2:
        _store_one_by_one(run, answers, peer, retry_seconds)
        return
    ids = [acks.msh_field(message, 10) for _, message, _, _ in run]
    text = "\r".join("\r".join(segments) for _, _, _, segments in run) + "\r"
    try:
        report = _import_with_reconnect(f"MLLP {peer} {len(run)} messages: {', '.join(ids)}", text,
                                        f"{ids[0]}..{ids[-1]}", peer, retry_seconds)
    except Exception:  # a bug met by one message must not cost the others: take them one by one
        log.exception("%s batch of %d messages could not be imported; taking them one by one", peer, len(run))
        _store_one_by_one(run, answers, peer, retry_seconds)
        return
    if report is None:
        for index, message, _, _ in run:
            answers[index] = acks.unavailable(message)
        return
    if report.refused:  # e.g. a value a column cannot hold: find which message it was, alone
        log.warning("%s batch of %d refused whole (%s); taking the messages one by one", peer, len(run),
                    acks.problems_text(report.problems))
        _store_one_by_one(run, answers, peer, retry_seconds)
        return
    for number, (index, message, _, _) in enumerate(run, 1):
        answers[index] = acks.answer_unit(message, report.outcome(f"message {number}"), len(run))


def _store_one_by_one(run: list[tuple[int, object, str, list[str]]], answers: list, peer: str,
                      retry_seconds: float | None) -> None:
    for index, message, text, _ in run:
        answers[index] = _store_one(text, message, peer, retry_seconds, ONE)


def _import_with_reconnect(name: str, text: str, control_id: str, peer: str,
                           retry_seconds: float | None) -> ImportReport | None:
    """Import the text; on a lost database connection, reconnect and retry until the deadline."""
    deadline = time.monotonic() + (settings.MLLP_DB_RETRY_SECONDS if retry_seconds is None else retry_seconds)
    delay = 0.2
    while True:
        # Keep the thread's connection between messages (a new one per message would cost more than
        # the work); a broken one is replaced after the OperationalError it raises.
        if connection.connection is not None and connection.needs_rollback:
            connection.close()
        try:
            return importers.import_file(name[:200], text, source=Source.MLLP, fmt="hl7",
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


# --- The server ----------------------------------------------------------------------------------


class Listener:
    """The asyncio MLLP server: one task per connection, database work in a thread pool."""

    def __init__(self, host: str, port: int, threads: int = 4, allowed_peers: list[str] | None = None):
        self.host, self.port = host, port
        peers = settings.MLLP_ALLOWED_PEERS if allowed_peers is None else allowed_peers
        self.allowed = [ipaddress.ip_network(peer, strict=False) for peer in peers]
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
        if not peer_allowed(host, self.allowed):
            log.warning("%s refused: not in MLLP_ALLOWED_PEERS (%s)", peer, ", ".join(map(str, self.allowed)))
            writer.close()
            return
        log.info("%s connected", peer)
        loop = asyncio.get_running_loop()
        pipelining = False
        try:
            while True:
                frames = await _read_frames(reader, peer, linger=PIPELINE_LINGER_S if pipelining else 0.0)
                if not frames:
                    break
                pipelining = len(frames) > 1
                blocks = [frame for frame in frames if isinstance(frame, bytes)]
                answers: list[acks.Answer] = []
                started = time.monotonic()
                if blocks:
                    try:
                        answers = await loop.run_in_executor(self.executor, process_blocks, blocks, peer)
                    except Exception:  # a bug must cost these messages an AE, not the connection
                        log.exception("%s %d message(s) could not be processed", peer, len(blocks))
                        answers = [acks.scratch_ack("AE", "", "internal error: nothing was stored; send the message "
                                                "again", [("", "207", "Application internal error",
                                                           "internal error")]) for _ in blocks]
                took = f" {1000 * (time.monotonic() - started):.0f} ms"
                in_order = iter(answers)
                for frame in frames:  # one ACK per frame, in the order received
                    answer = frame if isinstance(frame, acks.Answer) else next(in_order)
                    answer.note += took if isinstance(frame, bytes) else ""
                    writer.writeblock(answer.ack)
                    log.info("%s %s %s %s", peer, answer.control_id or "-", answer.code, answer.note)
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.info("%s connection lost: %s", peer, exc)
        except Exception:  # never let one connection take the listener down
            log.exception("%s unexpected error; connection closed", peer)
        finally:
            writer.close()
            log.info("%s disconnected", peer)


def peer_allowed(host: str, allowed: list) -> bool:
    """Return True if `host` (an IPv4 or IPv6 address, as the socket gives it) is in one of `allowed`."""
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])  # no IPv6 zone
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:  # ::ffff:10.1.2.3 on a dual-stack socket
        address = address.ipv4_mapped
    return any(address in network for network in allowed)


async def _read_frames(reader, peer: str, linger: float = 0.0) -> list[bytes | acks.Answer]:
    """Wait for one frame, then take every further complete frame already received.

    Each is the block, or the AR for a frame that is no block. Empty when the sender has closed.
    A sender that waits for each ACK gives one frame; a pipelining one gives what it has sent so
    far, up to MAX_BATCH_MESSAGES or MAX_BATCH_BYTES, which then share one transaction. With
    `linger` (a sender seen pipelining), wait that long once for more frames before stopping.
    """
    frames: list[bytes | acks.Answer] = []
    size = 0
    while True:
        if frames and not (len(frames) < MAX_BATCH_MESSAGES and size < MAX_BATCH_BYTES and _frame_waiting(reader)):
            if not linger or len(frames) >= MAX_BATCH_MESSAGES or size >= MAX_BATCH_BYTES:
                break
            await asyncio.sleep(linger)
            linger = 0.0
            if not _frame_waiting(reader):
                break
        try:
            block = await reader.readblock()
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                log.info("%s closed mid-message (%d bytes unacknowledged, nothing stored)", peer, len(exc.partial))
            break
        except InvalidBlockError:
            frames.append(acks.reject(None, "malformed MLLP frame: it does not start with <VT> (0x0b)"))
        except ValueError:
            frames.append(acks.reject(None, f"the message is larger than {MAX_MESSAGE_BYTES} bytes"))
        else:
            frames.append(block)
            size += len(block)
    return frames


def _frame_waiting(reader) -> bool:
    """True when a whole frame has already been received (asyncio.StreamReader has no public peek)."""
    return b"\x1c\r" in reader._buffer

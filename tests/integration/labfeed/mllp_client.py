"""A plain-socket MLLP client and the ORU^R01 messages the listener tests send."""

from __future__ import annotations

import socket
import struct
from datetime import timedelta

from django.utils import timezone

VT, FS, CR = b"\x0b", b"\x1c", b"\r"
# One clock for every message of the module: HL7 times have minute resolution, so a message rebuilt
# after a minute boundary would carry another collection time (a conflict, not a duplicate).
SENT_AT = timezone.now()


class Client:
    """A plain-socket MLLP client, so that tests can also send what a well-behaved client would not."""

    def __init__(self, address):
        self.sock = socket.create_connection(address[:2], timeout=30)
        self.buffer = b""

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, message: str) -> str:
        self.send_raw(VT + message.encode() + FS + CR)
        return self.ack()

    def ack(self) -> str:
        while FS + CR not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the listener closed the connection")
            self.buffer += chunk
        frame, self.buffer = self.buffer.split(FS + CR, 1)
        assert frame.startswith(VT)
        return frame[1:].decode()

    def abort(self) -> None:
        """Close with a reset, as a killed process's socket would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


def code(ack: str) -> str:
    msa = next(s for s in ack.split("\r") if s.startswith("MSA|"))
    return msa.split("|")[1]


def oru(control: str, *, mrn: str = "MRN001", accession: str | None = None, value: str = "1.2",
        hours_ago: float = 2, kind: str = "ORU^R01") -> str:
    moment = timezone.localtime(SENT_AT - timedelta(hours=hours_ago)).strftime("%Y%m%d%H%M%z")
    order = accession if accession is not None else f"ACC-{control}"
    return "\r".join([
        f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{moment}||{kind}|{control}|P|2.5.1",
        f"PID|1||{mrn}^^^HOSP^MR",
        f"OBR|1||{order}||||{moment}",
        f"OBX|1|NM|751-8^Neutrophils^LN||{value}|10*3/uL|||||F",
    ]) + "\r"

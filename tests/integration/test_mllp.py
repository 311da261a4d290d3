"""The HL7 v2 MLLP listener as a real subprocess on a real socket, against the test database.

It answers every message with the right ACK (AA stored or already stored, AE kept for review,
AR not an ORU^R01 at all), stores nothing twice, keeps serving after malformed frames, dropped
connections and lost database connections, and serves several clients at once.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitoring.models import CountResult, ImportException
from tests.conftest import REPO, make_patient

pytestmark = pytest.mark.postgres  # a listener process on the test database
VT, FS, CR = b"\x0b", b"\x1c", b"\r"


@pytest.fixture(scope="module")
def listener(django_db_setup, django_db_blocker):
    """Start `manage.py mllp_listener --port 0` on the test database; yield (host, port); stop it."""
    from django.conf import settings as django_settings

    db = django_settings.DATABASES["default"]
    # Its recomputes go to a private queue that no worker reads: the session's test worker must not
    # run them while later tests truncate the tables (the truncation would deadlock with it).
    queue = f"nw-mllp-test-{os.getpid()}"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="neutrowatch.settings_test", REDIS_URL=django_settings.REDIS_URL,
               DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
               MLLP_DB_RETRY_SECONDS="20", CELERY_TASK_DEFAULT_QUEUE=queue)
    (REPO / "test-artifacts").mkdir(exist_ok=True)
    log = open(REPO / "test-artifacts" / "mllp-listener.log", "w")
    proc = subprocess.Popen([sys.executable, "manage.py", "mllp_listener", "--host", "127.0.0.1", "--port", "0"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    if not line.startswith("MLLP listener on"):
        proc.kill()
        pytest.fail(f"the listener did not start: {line!r}; see test-artifacts/mllp-listener.log")
    host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
    yield host, int(port), proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    from neutrowatch.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


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
    moment = timezone.localtime(timezone.now() - timedelta(hours=hours_ago)).strftime("%Y%m%d%H%M%z")
    order = accession if accession is not None else f"ACC-{control}"
    return "\r".join([
        f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{moment}||{kind}|{control}|P|2.5.1",
        f"PID|1||{mrn}^^^HOSP^MR",
        f"OBR|1||{order}||||{moment}",
        f"OBX|1|NM|751-8^Neutrophils^LN||{value}|10*3/uL|||||F",
    ]) + "\r"


@pytest.fixture
def patient_on_file(transactional_db, team):
    return make_patient(team)


def test_fifty_messages_over_one_connection_get_the_right_ack_and_nothing_is_stored_twice(listener, patient_on_file):
    client = Client(listener)
    expected, good, sent = [], set(), {}
    for n in range(50):
        if n == 21:
            client.send_raw(b"not a frame at all" + FS + CR)  # no <VT>: a malformed frame
            expected.append(("malformed", "AR", code(client.ack())))
            continue
        if n % 10 == 3:
            message, want = oru(f"C{n}", value="1,2"), "AE"  # unreadable value: kept for review
        elif n % 10 == 5:
            message, want = sent[n - 5], "AR" if n == 35 else "AA"  # the same message again (C30 was an ADT)
        elif n % 10 == 7:
            message, want = oru(f"C{n}", mrn="NOBODY"), "AE"  # unknown MRN: kept for review
        elif n == 30:
            message, want = oru(f"C{n}", kind="ADT^A01"), "AR"
        elif n % 10 == 9:
            message, want = oru(f"C{n}", accession=""), "AA"  # no order number: MSH-10 identifies it
            good.add(f"C{n}-1")
        else:
            message, want = oru(f"C{n}", value=f"{1 + n / 100:.2f}"), "AA"
            good.add(f"ACC-C{n}")
        sent[n] = message
        expected.append((n, want, code(client.send(message))))
    assert [(n, got) for n, want, got in expected if want != got] == []
    again = client.send(oru("C9", accession=""))  # an MSH-10 already stored, sent again
    assert code(again) == "AA"
    assert set(CountResult.objects.values_list("accession", flat=True)) == good
    assert CountResult.objects.count() == len(good)
    assert ImportException.objects.filter(status="open").count() == 5 + 5  # unreadable values, unknown MRNs
    assert "kept for review" in client.send(oru("C43", value="1,2"))  # MSA-3 says why
    client.close()


def test_ae_carries_the_problems_in_msa_3_and_err(listener, patient_on_file):
    client = Client(listener)
    ack = client.send(oru("E1", value="3000"))
    segments = ack.split("\r")
    assert code(ack) == "AE" and "MSA|AE|E1|" in ack
    assert any(s.startswith("ERR|") and "cells/uL" in s for s in segments)
    assert code(client.send("MSH|^~\\&|LAB|HOSP|NW|HOSP|2026||ORU^R01|X|P|2.5.1\rPID|1")) == "AE"
    assert code(client.send("\x00\xff garbage")) == "AR"
    client.close()


def test_a_second_client_is_served_at_the_same_time(listener, patient_on_file):
    first, second = Client(listener), Client(listener)
    assert code(first.send(oru("P1"))) == "AA"
    assert code(second.send(oru("P2"))) == "AA"
    answers: dict[str, list[str]] = {"a": [], "b": []}

    def send_many(client, prefix):
        for n in range(10):
            answers[prefix].append(code(client.send(oru(f"{prefix}{n}", value=f"1.{n}"))))

    threads = [threading.Thread(target=send_many, args=(c, p)) for c, p in ((first, "a"), (second, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == {"a": ["AA"] * 10, "b": ["AA"] * 10}
    assert CountResult.objects.count() == 22
    first.close()
    second.close()


def test_a_client_killed_mid_message_loses_nothing_already_acknowledged(listener, patient_on_file):
    client = Client(listener)
    acked = [code(client.send(oru(f"K{n}"))) for n in range(3)]
    half = (VT + oru("K3").encode())[:60]
    client.send_raw(half)
    client.abort()
    assert acked == ["AA"] * 3
    later = Client(listener)
    assert code(later.send(oru("K4"))) == "AA"
    assert sorted(CountResult.objects.values_list("accession", flat=True)) == ["ACC-K0", "ACC-K1", "ACC-K2", "ACC-K4"]
    later.close()


def test_the_listener_reconnects_after_losing_its_database_connections(listener, patient_on_file):
    from django.db import connection

    client = Client(listener)
    assert code(client.send(oru("D1"))) == "AA"
    with connection.cursor() as cursor:  # what a database restart does to the listener's sessions
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    time.sleep(0.2)
    assert code(client.send(oru("D2"))) == "AA"
    assert CountResult.objects.count() == 2
    client.close()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=300))
def test_any_bytes_get_an_ack_and_the_listener_keeps_serving(listener, patient_on_file, data):
    client = Client(listener)
    client.send_raw(VT + data.replace(FS, b"") + FS + CR)
    assert code(client.ack()) in ("AA", "AE", "AR")
    assert code(client.send(oru("after-fuzz"))) == "AA"
    assert not CountResult.objects.exclude(accession="ACC-after-fuzz").exists()
    client.close()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(cut=st.integers(0, 400), junk=st.binary(max_size=8))
@example(cut=3, junk=b"\x00")  # "MSH\x00|...": a separator the hl7 package could not build an ACK from
def test_a_mangled_message_is_stored_whole_or_not_at_all(patient_on_file, cut, junk):
    from monitoring.mllp import process_message

    message = oru("M1", accession="FUZZ-1", value="0.8").encode()
    cut = min(cut, len(message))
    mangled = message[:cut] + junk + message[cut:]
    answer = process_message(mangled, "test", retry_seconds=0)
    assert answer.code in ("AA", "AE", "AR")
    stored = list(CountResult.objects.filter(patient=patient_on_file).values_list("accession", "anc_1e9_per_l"))
    if answer.code == "AR":  # not read at all: nothing stored
        assert stored == []
    else:  # AA stored (or held back), AE kept for review; junk may split the message, never half a count
        assert len(stored) <= 1 and all(anc is not None and accession for accession, anc in stored)
    CountResult.objects.all().delete()
    ImportException.objects.all().delete()

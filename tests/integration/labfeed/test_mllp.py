"""The HL7 v2 MLLP listener as a real subprocess on a real socket, against the test database.

It answers every message with the right ACK (AA stored or already stored, AE kept for review,
AR not an ORU^R01 at all), stores nothing twice, keeps serving after malformed frames, dropped
connections and lost database connections, and serves several clients at once.
"""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitoring.models import CountResult, ImportException
from monitoring.records import batches
from tests.conftest import make_patient
from tests.integration.labfeed.mllp_client import CR, FS, VT, Client, code, oru

pytestmark = pytest.mark.postgres  # a listener process on the test database


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


def test_a_sender_outside_the_allowed_peers_is_hung_up_on_and_nothing_is_stored(
        listener_for_another_network, patient_on_file):
    """The listener writes for every team: only MLLP_ALLOWED_PEERS (the interface engine) get in."""
    host, port, proc, log_path = listener_for_another_network
    client = Client((host, port))
    with pytest.raises(ConnectionError):  # closed before a byte is read: no ACK, no MRN confirmed
        client.send(oru("OUTSIDER1", mrn=patient_on_file.mrn, value="0.2"))
    client.close()
    assert not CountResult.objects.filter(patient=patient_on_file).exists()
    assert proc.poll() is None  # still listening for the engine
    deadline = time.monotonic() + 10
    while "refused: not in MLLP_ALLOWED_PEERS (192.0.2.0/24, 2001:db8::/32)" not in log_path.read_text():
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.05)


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
    from monitoring.labfeed.mllp import process_message

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


# --- Pipelined senders: group commit ------------------------------------------------------------


def msa(ack: str) -> tuple[str, str]:
    """(MSA-1 code, MSA-2 control id) of an ACK."""
    fields = next(s for s in ack.split("\r") if s.startswith("MSA|")).split("|")
    return fields[1], fields[2] if len(fields) > 2 else ""


def frame(message: str | bytes) -> bytes:
    return VT + (message.encode() if isinstance(message, str) else message) + FS + CR


def test_a_pipelined_burst_gets_one_right_ack_per_frame_in_order_and_the_grade_4_count_alerts(
    listener, transactional_db, team, regimens,
):
    from monitoring.models import Alert
    from tests.conftest import start_on_regimen

    patient = make_patient(team)
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"])
    frames, expected, good = [], [], set()
    for n in range(30):
        control = f"Q{n}"
        if n == 4:
            message, want = oru(control, value="1,2"), ("AE", control)  # unreadable value: kept for review
        elif n == 7:
            message, want = oru(control, mrn="NOBODY"), ("AE", control)  # unknown MRN: kept for review
        elif n == 10:
            message, want = oru("Q2", value="1.02"), ("AA", "Q2")  # Q2 again in the same burst: a duplicate
        elif n == 13:
            message, want = oru(control, kind="ADT^A01"), ("AR", control)
        elif n == 16:
            message, want = b"MSH|^~\\&|LAB|\xff\xfe|NW", ("AR", "")  # not UTF-8: no MSH-10 to name
        elif n == 19:
            frames.append(b"no start block" + FS + CR)  # a malformed frame in the middle of the burst
            expected.append(("AR", ""))
            continue
        elif n == 22:
            message, want = oru(control, value="0.3"), ("AA", control)  # grade 4
            good.add(f"ACC-{control}")
        else:
            message, want = oru(control, value=f"{1 + n / 100:.2f}"), ("AA", control)
            good.add(f"ACC-{control}")
        frames.append(frame(message))
        expected.append(want)
    client = Client(listener)
    client.send_raw(b"".join(frames))  # all at once: nothing waits for an ACK
    acks = [client.ack() for _ in frames]
    assert [msa(ack) for ack in acks] == expected
    assert "kept for review" in acks[4] and "OBX-5" in acks[4] and "message " not in acks[4]
    assert set(CountResult.objects.values_list("accession", flat=True)) == good
    assert CountResult.objects.count() == len(good)  # Q2 stored once
    kept = ImportException.objects.filter(status="open")
    assert sorted(e.raw.split("|")[9] for e in kept) == ["Q4", "Q7"]
    # They were imported together: the file the exceptions came from is the burst, not one message.
    assert all(" messages: " in e.file_name for e in kept)
    # The grade-4 count raised its alert when it was saved, with no worker running.
    assert Alert.objects.filter(cycle=cycle, kind=Alert.Kind.GRADE4_OBSERVED, resolved_at__isnull=True).exists()
    assert code(client.send(oru("Q22", value="0.3"))) == "AA"  # a strict sender afterwards: same connection
    assert CountResult.objects.count() == len(good)
    client.close()


def blocks(*messages: str) -> list[bytes]:
    return [message.encode() for message in messages]


def test_a_batch_costs_about_the_queries_of_one_message(patient_on_file):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from monitoring.labfeed.mllp import process_blocks

    with CaptureQueriesContext(connection) as one:
        assert [a.code for a in process_blocks(blocks(oru("S1")), "test", retry_seconds=0)] == ["AA"]
    burst = blocks(*(oru(f"S{n}", value=f"1.{n}") for n in range(2, 12)))
    with CaptureQueriesContext(connection) as ten:
        answers = process_blocks(burst, "test", retry_seconds=0)
    assert [(a.code, a.control_id) for a in answers] == [("AA", f"S{n}") for n in range(2, 12)]
    assert CountResult.objects.count() == 11
    assert len(ten.captured_queries) < 2 * len(one.captured_queries)


@pytest.mark.parametrize("failure", ["refused", "raises"])
def test_a_batch_that_fails_whole_is_taken_one_message_at_a_time(patient_on_file, monkeypatch, failure):
    """Whatever makes the batch fail (here: any batch of more than one count), no message pays for another."""
    from django.db import DataError

    from monitoring.labfeed.mllp import process_blocks

    real = batches.record_batch

    def record_batch(batch, **kwargs):
        if len(batch.counts) > 1:
            raise DataError("value too long") if failure == "refused" else RuntimeError("a bug met in a batch")
        return real(batch, **kwargs)

    monkeypatch.setattr(batches, "record_batch", record_batch)
    burst = blocks(oru("F1"), oru("F2", value="1,2"), oru("F3", value="1.3"), oru("F1"), oru("F4", kind="ADT^A01"))
    answers = process_blocks(burst, "test", retry_seconds=0)
    assert [(a.code, a.control_id) for a in answers] == [("AA", "F1"), ("AE", "F2"), ("AA", "F3"), ("AA", "F1"),
                                                         ("AR", "F4")]
    assert sorted(CountResult.objects.values_list("accession", flat=True)) == ["ACC-F1", "ACC-F3"]
    assert ImportException.objects.get().location == "message 1"  # F2, kept on its own


def test_a_burst_waits_for_the_database_then_says_send_again(patient_on_file):
    """Database unreachable past the deadline: nothing is stored and every message is told to be sent again."""
    from django.db import connection

    from monitoring.labfeed.mllp import process_blocks

    settings_dict = connection.settings_dict
    port = settings_dict["PORT"]
    settings_dict["PORT"] = "1"  # nothing listens there
    connection.close()
    try:
        answers = process_blocks(blocks(oru("U1"), oru("U2")), "test", retry_seconds=0)
    finally:
        settings_dict["PORT"] = port
        connection.close()
    assert [(a.code, a.control_id) for a in answers] == [("AE", "U1"), ("AE", "U2")]
    assert all(b"send the message again" in a.ack for a in answers)
    assert not CountResult.objects.exists()


def test_each_message_of_a_batch_gets_the_ack_it_would_have_had_alone(patient_on_file):
    from monitoring.labfeed.mllp import process_blocks, process_message

    def ack_of(answer) -> tuple[str, str, str]:
        fields = next(s for s in answer.ack.decode().split("\r") if s.startswith("MSA|")).split("|")
        return answer.code, answer.control_id, fields[3] if len(fields) > 3 else ""

    burst = blocks(
        oru("V1"),
        oru("V2", value="3000"),  # cells/uL in a 10^9/L field: kept for review
        oru("V3", mrn="NOBODY"),
        oru("V4", accession="ACC-V1"),  # V1 again under another MSH-10: a duplicate
        oru("V5", accession="ACC-V1", value="1.5"),  # the same accession with another value: a conflict
        oru("V6", accession="ACC-V1", value="1.4").replace("|||||F", "|||||C"),  # V1 corrected
        oru("V7").replace("|||||F", "|||||P"),  # preliminary: held back until final
        oru("V8").replace("751-8^Neutrophils^LN", "2345-7^Glucose^LN"),  # nothing NeutroWatch reads
        oru("V9", accession="ACC-V1").replace("|||||F", "|||||D"),  # V1 removed
        oru("V10", kind="ORU^R01^ORU_R01", value="0.9"),
        "MSH|^~\\&|LAB|HOSP|NW|HOSP|20240101||ORU^R01|V11|P|2.5.1\rPID|1||MRN001\rMSH|^~\\&|LAB|HOSP|NW|HOSP|20240101"
        "||ORU^R01|V11b|P|2.5.1",  # two messages in one frame: imported alone, as before
        oru("V12", hours_ago=-3),  # in the future: kept for review
    )
    together = [ack_of(a) for a in process_blocks(burst, "test", retry_seconds=0)]
    stored_together = sorted(CountResult.objects.values_list("accession", "anc_1e9_per_l"))
    CountResult.objects.all().delete()
    ImportException.objects.all().delete()
    alone = [ack_of(process_message(block, "test", retry_seconds=0)) for block in burst]
    assert together == alone
    assert [code for code, _, _ in together] == ["AA", "AE", "AE", "AA", "AE", "AA", "AA", "AR", "AA", "AA", "AE",
                                                 "AE"]
    assert sorted(CountResult.objects.values_list("accession", "anc_1e9_per_l")) == stored_together

"""HL7 v2 in another character set than UTF-8 (many laboratory systems send ISO 8859-1): read with
the character set MSH-18 names, else as ISO 8859-1, over MLLP and from a file; never refused for it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring.labfeed import importers
from monitoring.labfeed.importers import hl7v2
from monitoring.labfeed.mllp import process_message
from monitoring.models import Alert, CountResult
from monitoring.models.results import Source

pytestmark = pytest.mark.django_db
NOW = timezone.now()  # one clock: HL7 times are to the minute


def _message(charset: str, control: str = "L1") -> str:
    at = timezone.localtime(NOW - timedelta(hours=2)).strftime("%Y%m%d%H%M%z")
    return "\r".join([f"MSH|^~\\&|LAB|HOSP|NW|HOSP|{at}||ORU^R01|{control}|P|2.5.1|||||{charset}",
                      "PID|1||MRN001^^^HOSP^MR||Müller^Jürgen", f"OBR|1||{control}-A||||{at}",
                      "OBX|1|NM|751-8^Neutrophils^LN||0.3|10*3/uL|||||F"]) + "\r"


def test_a_latin_1_message_over_mllp_is_stored_and_alerted(patient, cycle):
    answer = process_message(_message("8859/1").encode("iso-8859-1"), "test", retry_seconds=0)
    assert answer.code == "AA", answer.note
    assert CountResult.objects.get().anc_1e9_per_l == Decimal("0.300")
    assert Alert.objects.filter(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED).exists()


def test_a_latin_1_message_that_does_not_say_so_is_read_as_latin_1(patient):
    answer = process_message(_message("", control="L2").encode("iso-8859-1"), "test", retry_seconds=0)
    assert answer.code == "AA", answer.note
    report = importers.import_file("lab.hl7", _message("", control="L3").encode("iso-8859-1"),
                                   source=Source.IMPORT)
    assert report.ok and report.stored == 1, report.problems
    assert CountResult.objects.count() == 2


@pytest.mark.parametrize("charset, codec", [("8859/1", "iso-8859-1"), ("8859/15", "iso-8859-15"),
                                            ("8859/2", "iso-8859-2"), ("", "iso-8859-1"), ("UNICODE UTF-8", "utf-8")])
def test_msh_18_names_how_the_bytes_are_read(charset, codec):
    text = _message(charset)
    assert hl7v2.decode(text.encode(codec)) == text


def test_a_csv_that_is_not_utf_8_is_still_refused_with_the_reason(patient):
    report = importers.import_file("x.csv", "mrn,collected_at,anc,unit\nMRN001,2026-01-01T10:00,1.2,Kö\n"
                                   .encode("iso-8859-1"), source=Source.IMPORT)
    assert [(p.field, p.reason) for p in report.problems] == [("encoding", "not UTF-8 text")]

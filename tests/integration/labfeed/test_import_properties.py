"""Property tests: whatever a file holds, each row is stored or kept for review (or, all-or-nothing, the file
is taken whole or not at all), never half a row, and never with a traceback."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring.labfeed import importers
from monitoring.models import CountResult, GcsfDose, TemperatureReading
from monitoring.models.results import Source

pytestmark = pytest.mark.django_db
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_serial = itertools.count()


def _stored() -> int:
    return CountResult.objects.count() + GcsfDose.objects.count() + TemperatureReading.objects.count()


def _when(hours: int) -> str:
    return timezone.localtime(timezone.now() - timedelta(hours=hours)).replace(tzinfo=None).isoformat(
        timespec="minutes")


cells = st.one_of(
    st.sampled_from(["", "1.2", "0.4", "3000", "-1", "abc", "NaN", "1e400", "K/uL", "10^9/L", "cells/uL", "furlong",
                     "MRN001", "NOPE", "2024-13-01T00:00", "2999-01-01T00:00", "1900-01-01T00:00", "55", "120"]),
    st.text(max_size=12),
)
good_row = st.builds(lambda hours, anc: ("MRN001", _when(hours), anc, "K/uL"),
                     st.integers(1, 2000), st.sampled_from(["0.3", "1.1", "2.5", "4.0"]))
bad_row = st.tuples(cells, cells, cells, cells)


@PROPERTY_SETTINGS
@given(rows=st.lists(st.tuples(st.booleans(), good_row, bad_row), min_size=1, max_size=12))
def test_csv_rows_are_each_stored_or_kept_for_review(patient, rows):
    from monitoring.models import ImportException

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # quotes any cell with \r or \n: one row per record
    writer.writerow(["mrn", "collected_at", "anc", "unit", "accession"])
    for use_good, good, bad in rows:
        writer.writerow([*(good if use_good else bad), f"P{next(_serial)}"])
    text = out.getvalue().encode()
    before, kept_before = _stored(), ImportException.objects.count()
    whole = importers.import_file("p.csv", text, source=Source.IMPORT, all_or_nothing=True)
    if whole.refused:
        assert _stored() == before and ImportException.objects.count() == kept_before
        assert all(p.where and p.field and p.reason for p in whole.problems)
    report = importers.import_file("p.csv", text, source=Source.IMPORT)
    if report.refused:  # unreadable as a whole (e.g. NUL bytes): nothing stored, nothing kept
        assert all(not p.unit for p in report.problems) and not report.kept
        assert _stored() == before and ImportException.objects.count() == kept_before
        return
    assert all(p.where and p.field and p.reason and p.unit for p in report.problems)
    # Every row is accounted for: stored now, already stored (by the all-or-nothing run), or kept.
    assert report.created + report.duplicates + len(report.kept) == len(rows)
    assert _stored() == before + whole.created * (not whole.refused) + report.created
    assert ImportException.objects.count() == kept_before + len(report.kept)
    assert all(ImportException.objects.filter(pk=k["exception_id"], raw__contains="P").exists() for k in report.kept)


@PROPERTY_SETTINGS
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)),
       fmt=st.sampled_from([None, "csv", "fhir", "hl7"]))
def test_random_bytes_never_crash_or_store_partially(patient, data, fmt):
    before = _stored()
    report = importers.import_file("g.bin", data, source=Source.IMPORT, fmt=fmt)
    assert report.ok or _stored() == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.sampled_from(["751-8", "final", "MRN001"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["resourceType", "status", "code", "coding", "system", "value", "valueQuantity", "subject",
                         "identifier", "effectiveDateTime", "entry", "resource", "type", "unit"]), inner, max_size=4),
    max_leaves=15,
)


@PROPERTY_SETTINGS
@given(entries=st.lists(json_values, max_size=4))
def test_mangled_fhir_bundles_never_crash(patient, entries):
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": e} for e in entries]}
    before = _stored()
    report = importers.import_file("b.json", json.dumps(bundle).encode(), source=Source.IMPORT)
    assert report.ok or _stored() == before


@PROPERTY_SETTINGS
@given(obx=st.lists(st.tuples(st.sampled_from(["751-8^ANC^LN", "6690-2^WBC^LN", "770-8^N^LN", "8310-5^T^LN", "x"]),
                              cells, cells, st.sampled_from(["F", "C", "P", "D", "", "Z"])), max_size=5))
def test_mangled_hl7_messages_never_crash(patient, obx):
    segments = ["MSH|^~\\&|LAB|H|NW|H|202405010900||ORU^R01|M1|P|2.5", "PID|1||MRN001^^^H^MR",
                f"OBR|1||F{next(_serial)}|58410-2^CBC^LN|||{timezone.localtime():%Y%m%d%H%M}"]
    segments += [f"OBX|{n}|NM|{code}||{value}|{unit}|||||{status}" for n, (code, value, unit, status) in enumerate(obx)]
    before = _stored()
    report = importers.import_file("m.hl7", "\r".join(segments).encode(), source=Source.IMPORT)
    assert report.ok or _stored() == before

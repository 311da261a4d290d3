"""Parsers and code tables, without the database: files in, plain records and problems out."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring import clinical
from monitoring.labfeed.importers import codes, csv_format, detect_format, fhir, hl7v2, records, validation


@pytest.mark.parametrize("code, role", [
    ("751-8", "anc"), ("26499-4", "anc"), ("753-4", "anc"), ("6690-2", "wbc"), ("26464-8", "wbc"),
    ("770-8", "neutrophil_pct"), ("26511-6", "neutrophil_pct"), ("764-1", "band_pct"), ("26508-2", "band_pct"),
    ("8310-5", "temperature"), ("718-7", None), ("", None),
])
def test_loinc_table(code, role):
    assert codes.loinc_role(code) == role


@pytest.mark.parametrize("unit, canonical", [
    ("10*3/uL", "10^3/uL"), ("10*9/L", "10^9/L"), ("/uL", "/uL"), ("K/uL", "10^3/uL"), ("x10^9/L", "10^9/L"),
    ("cells/uL", "/uL"), ("x10E3/uL", "10^3/uL"),
])
def test_ucum_and_lab_count_units(unit, canonical):
    assert clinical.normalise_count_unit(unit) == canonical


def test_temperature_units_and_dose_units():
    assert clinical.to_celsius(Decimal("101.3"), "[degF]") == Decimal("38.50")
    assert clinical.to_celsius(Decimal("38.1"), "Cel") == Decimal("38.10")
    assert codes.gcsf_dose_unit("mcg") == "ug" and codes.gcsf_dose_unit("mg") == "mg"
    assert codes.route("34206005") == "SC" and codes.route("") == "SC"
    with pytest.raises(clinical.ClinicalValueError):
        codes.gcsf_dose_unit("IU")
    with pytest.raises(clinical.ClinicalValueError):
        codes.check_percent_unit("10*3/uL")


def test_count_record_with_mixed_units_and_magnitude_refusal():
    record = records.CountRecord("x", "M", None, "A", values={
        "anc": records.Measured(Decimal("450"), "/uL", "anc", "unit"),
        "wbc": records.Measured(Decimal("2.1"), "10*3/uL", "wbc", "unit"),
    })
    count = validation.to_count_input(record)
    assert (count.anc_1e9_per_l, count.wbc_1e9_per_l, count.entered_unit) == (Decimal("0.450"), Decimal("2.100"), "/uL")
    wrong = records.CountRecord("x", "M", None, "A", values={
        "anc": records.Measured(Decimal("3000"), "10*3/uL", "OBX-5", "OBX-6")})
    with pytest.raises(records.FieldError) as caught:
        validation.to_count_input(wrong)
    assert caught.value.field == "OBX-5" and "cells/uL" in caught.value.reason


def test_csv_parser_columns_in_any_order_and_row_numbers():
    parsed = csv_format.parse("unit,ANC,mrn,collected_at\nK/uL,1.2,M1,2024-05-01T08:30\n\nK/uL,x,M1,2024-05-02T08:30\n")
    assert len(parsed.records) == 1 and parsed.records[0].values["anc"].value == Decimal("1.2")
    assert parsed.problems == [("row 4", "anc", "'x' is not a number (digits 0-9 with an optional decimal point, "
                                "e.g. 0.45)", "row 4")]


def test_hl7_parser_groups_obx_by_obr_and_holds_preliminary():
    message = "\n".join([
        "MSH|^~\\&|LAB|H|NW|H|202405010900||ORU^R01|M1|P|2.5",
        "PID|1||M1^^^H^MR",
        "OBR|1||F1|58410-2^CBC^LN|||202405010830",
        "OBX|1|NM|6690-2^WBC^LN||4.2|K/uL|||||F",
        "OBX|2|NM|770-8^Neut %^LN||50|%|||||F",
        "OBR|2||F2|58410-2^CBC^LN|||202405020830",
        "OBX|1|NM|751-8^ANC^LN||0.4|K/uL|||||P",
    ])
    parsed = hl7v2.parse(message)
    assert not parsed.problems
    [record] = parsed.records
    assert (record.mrn, record.accession, set(record.values)) == ("M1", "F1", {"wbc", "neutrophil_pct"})
    assert any("preliminary" in note for note in parsed.held_back)


@pytest.mark.parametrize("sn, qualifier, value", [("=^0.3", "", "0.3"), ("^0.3", "", "0.3"), ("<^0.1", "<", "0.1"),
                                                   ("<=^0.05", "<", "0.05")])
def test_hl7_structured_numeric_values_are_read_with_their_comparator(sn, qualifier, value):
    message = "\r".join(["MSH|^~\\&|LAB|H|NW|H|202405010900||ORU^R01|M1|P|2.5", "PID|1||M1^^^H^MR",
                          "OBR|1||F1|58410-2^CBC^LN|||202405010830", f"OBX|1|SN|751-8^ANC^LN||{sn}|K/uL|||||F"])
    parsed = hl7v2.parse(message)
    assert not parsed.problems
    [record] = parsed.records
    assert (record.values["anc"].qualifier, record.values["anc"].value) == (qualifier, Decimal(value))


def test_fhir_parser_reads_panel_components():
    panel = {
        "resourceType": "Observation", "id": "cbc", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2"}]},
        "subject": {"identifier": {"value": "M1"}}, "effectiveDateTime": "2024-05-01T08:30:00+01:00",
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "6690-2"}]},
             "valueQuantity": {"value": 5.0, "system": "http://unitsofmeasure.org", "code": "10*3/uL"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
             "valueQuantity": {"value": 2.5, "system": "http://unitsofmeasure.org", "code": "10*3/uL"}},
        ],
    }
    parsed = fhir.parse(json.dumps(panel))
    assert not parsed.problems
    [record] = parsed.records
    assert record.accession == "Observation/cbc" and set(record.values) == {"wbc", "anc"}


def test_fhir_time_without_zone_is_refused_as_the_spec_requires():
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "effectiveDateTime": "2024-05-01T08:30:00"}
    assert fhir.parse(json.dumps(obs)).problems


def test_format_detection():
    assert detect_format("x.txt", '{"resourceType": "Bundle"}') == "fhir"
    assert detect_format("x.txt", "MSH|^~\\&|") == "hl7"
    assert detect_format("x.csv", "mrn,collected_at") == "csv"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_parsers_never_raise_on_garbage(text):
    for parse in (csv_format.parse, fhir.parse, hl7v2.parse):
        parsed = parse(text)
        for record in parsed.records:
            try:
                validation._validate(record)
            except records.FieldError:
                pass

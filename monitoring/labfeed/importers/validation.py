"""Validation of parsed lab records: times, numbers and units, from a record to a service input.

Every problem is a FieldError naming the field as the sender wrote it (a CSV column, an HL7
segment field, a FHIR element), so the report and the exceptions queue say exactly what is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.utils import timezone

from monitoring import clinical
from monitoring.guards.text import record_control_character
from monitoring.labfeed.importers import codes
from monitoring.labfeed.importers.records import (
    MAX_ENTERED_LENGTH,
    MAX_ID_LENGTH,
    REMOVAL,
    CountRecord,
    FieldError,
    GcsfRecord,
    Record,
    TemperatureRecord,
)


def aware(moment: datetime, field_name: str = "time") -> datetime:
    """Return `moment` with the clinic's zone if it came without one.

    A clinic-local time that does not exist (skipped when the clocks go forward) or exists twice
    (when they go back) is refused: guessing could place a count an hour off, before or after a dose.
    """
    if not timezone.is_naive(moment):
        return moment
    zone = timezone.get_default_timezone()
    first, second = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        what = "does not exist (the clocks went forward)" if round_trip != moment else \
            "happened twice (the clocks went back)"
        raise FieldError(field_name, f"{moment:%Y-%m-%d %H:%M} {what} in {zone}; give the UTC offset, "
                                     f"e.g. {moment:%Y-%m-%dT%H:%M}+01:00")
    return first


def parse_iso_time(text: str, field_name: str) -> datetime:
    """Return an aware datetime from ISO-8601 text; clinic-local time unless a zone is given."""
    text = (text or "").strip()
    if len(text) <= 10:
        raise FieldError(field_name, f"{text!r} is not a date and time (e.g. 2024-05-01T08:30)" if text
                         else "the time is missing")
    if not text.isascii():
        raise FieldError(field_name, f"{text[:40]!r} is not an ISO-8601 date and time (e.g. 2024-05-01T08:30)")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(field_name, f"{text!r} is not an ISO-8601 date and time (e.g. 2024-05-01T08:30)") from None
    return aware(moment, field_name)


def decimal_field(text: str, field_name: str) -> Decimal | None:
    """Return the number in `text`, None if blank, or raise naming the field."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return clinical.to_decimal(text, field_name)
    except clinical.ClinicalValueError as exc:
        raise FieldError(field_name, str(exc)) from None


def censored_field(text: str, field_name: str) -> tuple[str, Decimal] | None:
    """Return (qualifier, number) for a lab value that may be censored ("<0.1"), None if blank."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return clinical.to_censored_decimal(text, field_name)
    except clinical.ClinicalValueError as exc:
        raise FieldError(field_name, str(exc)) from None


def _clinical(field_name: str, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except clinical.ClinicalValueError as exc:
        raise FieldError(field_name, str(exc)) from None


def to_count_input(record: CountRecord) -> clinical.CountInput:
    """Validate a count record and return it in 10^9/L, or raise FieldError."""
    values = record.values
    for measured in values.values():  # FHIR numbers arrive as Decimals: still finite and of sane size
        _clinical(measured.field, clinical.to_decimal, measured.value, measured.field)
    anc, wbc = values.get(codes.ANC), values.get(codes.WBC)
    percents = {role: values.get(role) for role in codes.PERCENT_ROLES}
    for measured in percents.values():
        if measured is not None:
            _clinical(measured.unit_field, codes.check_percent_unit, measured.unit)
    main = anc or wbc
    if main is None:
        raise FieldError("anc", "give the ANC, or the WBC with the neutrophil %")
    for measured in (wbc if anc is not None else None, *percents.values()):
        if measured is not None and measured.qualifier:
            raise FieldError(measured.field, f"{measured.qualifier}{measured.value} is censored; only the ANC "
                                             "(or the WBC it is computed from) may be")
    unit = _clinical(main.unit_field, clinical.normalise_count_unit, main.unit)
    wbc_in_unit = None
    if wbc is not None:
        _clinical(wbc.unit_field, clinical.normalise_count_unit, wbc.unit)
        wbc_1e9 = _clinical(wbc.field, clinical.count_to_1e9_per_l, wbc.value, wbc.unit, what="WBC")
        wbc_in_unit = wbc_1e9 / clinical.COUNT_UNITS[unit]
    if anc is not None:
        _clinical(anc.field, clinical.count_to_1e9_per_l, anc.value, unit)
    if len(record.accession) > MAX_ID_LENGTH:
        raise FieldError("accession", f"longer than {MAX_ID_LENGTH} characters")
    if len(str(main.value)) > MAX_ENTERED_LENGTH:
        raise FieldError(main.field, f"{main.value} has more digits than a lab reports")
    npct, bpct = percents[codes.NEUTROPHIL_PCT], percents[codes.BAND_PCT]
    platelets = values.get(codes.PLATELETS)
    if platelets is not None:
        if platelets.qualifier:
            raise FieldError(platelets.field, f"{platelets.qualifier}{platelets.value} is censored; only the ANC "
                                              "(or the WBC it is computed from) may be")
        _clinical(platelets.unit_field, clinical.normalise_count_unit, platelets.unit or main.unit)
        _clinical(platelets.field, clinical.count_to_1e9_per_l, platelets.value, platelets.unit or main.unit,
                  what="platelets")
    return _clinical(
        "count", clinical.parse_count,
        collected_at=record.collected_at, unit=unit,
        anc=anc.value if anc else None, wbc=wbc_in_unit,
        neutrophil_pct=npct.value if npct else None, band_pct=bpct.value if bpct else None,
        accession=record.accession, qualifier=main.qualifier,
        platelets=platelets.value if platelets else None, platelets_unit=platelets.unit if platelets else "",
    )


def to_gcsf_fields(record: GcsfRecord) -> dict:
    product = _clinical("product", clinical.gcsf_product, record.product_text)
    if record.dose is None:
        raise FieldError("dose", "the dose is missing")
    dose_unit = _clinical("dose unit", codes.gcsf_dose_unit, record.dose_unit)
    dose = _clinical("dose", clinical.check_gcsf_dose, _clinical("dose", clinical.to_decimal, record.dose, "dose"),
                     dose_unit)
    if len(record.external_id) > MAX_ID_LENGTH:
        raise FieldError("id", f"longer than {MAX_ID_LENGTH} characters")
    return {
        "product": product,
        "product_name": record.product_text.strip()[:80],
        "dose": dose,
        "dose_unit": dose_unit,
        "route": _clinical("route", codes.route, record.route),
        "given_at": record.given_at,
        "external_id": record.external_id,
    }


def to_temperature_fields(record: TemperatureRecord) -> dict:
    if record.value is None:
        raise FieldError("temperature", "the temperature is missing")
    value = _clinical("temperature", clinical.to_decimal, record.value, "temperature")
    celsius = _clinical("temperature", clinical.to_celsius, value, record.unit)
    if len(record.external_id) > MAX_ID_LENGTH:
        raise FieldError("id", f"longer than {MAX_ID_LENGTH} characters")
    unit = "F" if record.unit.strip().lower() in ("f", "[degf]", "°f", "degf") else "C"
    return {
        "taken_at": record.taken_at,
        "temperature_c": celsius,
        "entered_value": str(record.value)[:20],
        "entered_unit": unit,
        "site": record.site,
        "external_id": record.external_id,
    }


def when_of(record: Record) -> datetime | None:
    return getattr(record, record.time_field)


def _validate(record: Record):
    """Return the service input for a record (None for a removal, which needs no values)."""
    if record.status == REMOVAL:
        return None
    if (bad := record_control_character(record)) is not None:  # issue 25: refused with a word, not stored
        raise FieldError(*bad)
    if isinstance(record, CountRecord):
        return to_count_input(record)
    if isinstance(record, GcsfRecord):
        return to_gcsf_fields(record)
    return to_temperature_fields(record)


def _record_key(record: Record) -> str:
    return record.accession if isinstance(record, CountRecord) else record.external_id

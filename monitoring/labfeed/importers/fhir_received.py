"""What a FHIR entry that cannot be read says, as received: read from the raw JSON without trusting it.

An entry refused (it does not validate, or a field cannot be read) is kept in the exceptions queue
with the values it carries: its patient, time and count as received. So a count of a known patient
that cannot be read raises "unreadable count held", and a readable grade 3-4 one refused for another
reason "count held for review", as they do for an HL7 message or a CSV row (alerts/held.py).
fhir.py reads the entries that validate.
"""

from __future__ import annotations

from monitoring.labfeed.importers import codes

# A FHIR Quantity's comparator as a censored value's qualifier (< or >).
COMPARATORS = {"<": "<", "<=": "<", ">": ">", ">=": ">"}


def raw_patient_mrns(entries: list[tuple[str, str, dict]]) -> dict[str, str]:
    """Return each raw Patient resource's MRN by the references an Observation may use."""
    mrns = {}
    for _, full_url, raw in entries:
        if raw.get("resourceType") != "Patient":
            continue
        mrn = _raw_mrn_of_patient(raw)
        keys = [full_url, f"Patient/{raw['id']}" if isinstance(raw.get("id"), str) else ""]
        mrns.update({key: mrn for key in keys if key and mrn})
    return mrns


def _raw_mrn_of_patient(raw: dict) -> str:
    identifiers = [i for i in _list(raw.get("identifier")) if isinstance(i, dict) and _text(i.get("value"))]
    for identifier in identifiers:
        codings = _list((identifier.get("type") or {}).get("coding") if isinstance(identifier.get("type"), dict)
                        else None)
        if any(isinstance(c, dict) and c.get("code") == "MR" for c in codings):
            return _text(identifier["value"])
    return _text(identifiers[0]["value"]) if identifiers else ""


def received_values(raw: dict, patient_mrns: dict[str, str]) -> dict[str, str]:
    """Return what a raw Observation says under the CSV column names (mrn, collected_at, anc, unit, ...).

    Best effort on JSON that did not validate: anything of the wrong shape is left out.
    """
    if raw.get("resourceType") != "Observation":
        return {}
    values = {"mrn": _raw_subject_mrn(raw.get("subject"), patient_mrns)}
    period = raw.get("effectivePeriod")
    values["collected_at"] = _text(raw.get("effectiveDateTime") or raw.get("effectiveInstant")
                                   or (period.get("start") if isinstance(period, dict) else ""))
    accession = next((i.get("value") for i in _list(raw.get("identifier")) if isinstance(i, dict)), "")
    values["accession"] = _text(accession) or (f"Observation/{raw['id']}" if _text(raw.get("id")) else "")
    measured = [(raw.get("code"), raw.get("valueQuantity"))]
    measured += [(c.get("code"), c.get("valueQuantity")) for c in _list(raw.get("component")) if isinstance(c, dict)]
    for codeable, quantity in measured:
        role = _raw_role(codeable)
        if role is None or not isinstance(quantity, dict) or quantity.get("value") in (None, ""):
            continue
        number = COMPARATORS.get(_text(quantity.get("comparator")), "") + _text(quantity.get("value"))
        unit = _text(quantity.get("code") or quantity.get("unit"))
        if role == codes.TEMPERATURE:
            values.update(temperature=number, temperature_unit=unit)
            continue
        values.setdefault(role, number)
        if role in codes.COUNT_ROLES:
            values.setdefault("unit", unit)
    return {key: value[:200] for key, value in values.items() if value}


def _raw_subject_mrn(subject, patient_mrns: dict[str, str]) -> str:
    if not isinstance(subject, dict):
        return ""
    reference = _text(subject.get("reference"))
    if reference in patient_mrns:
        return patient_mrns[reference]
    identifier = subject.get("identifier")
    return _text(identifier.get("value")) if isinstance(identifier, dict) else ""


def _raw_role(codeable) -> str | None:
    codings = _list(codeable.get("coding")) if isinstance(codeable, dict) else []
    for coding in codings:
        if isinstance(coding, dict) and coding.get("system") in (codes.LOINC_SYSTEM, None):
            role = codes.loinc_role(_text(coding.get("code")))
            if role:
                return role
    return None


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _text(value) -> str:
    """Return a scalar JSON value as text ("" for objects, lists and null)."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()

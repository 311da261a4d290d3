"""FHIR R4 JSON results, parsed and validated with fhir.resources (its R4B models accept R4 data).

A Bundle (collection, transaction, batch, searchset) or a single resource. Observations by
LOINC (see codes.LOINC_ROLES), as separate resources or one panel with components; separate
Observations of one patient at one collection time form one blood count, identified by the
ANC Observation (else the WBC one). MedicationAdministration of filgrastim / pegfilgrastim
(ATC or ingredient name) becomes a G-CSF dose. The patient is matched by identifier value
(the MRN), directly on the subject or through a Patient resource in the Bundle.

Status: final / amended / corrected count; amended / corrected replace the stored result
with the same identifier or id; entered-in-error removes it; anything else is held back.
FHIR requires a zone on times with a time of day, so the parser refuses times without one.
An entry that cannot be read is kept for review with what it says as received (fhir_received.py).
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from monitoring import clinical
from monitoring.labfeed.importers import codes
from monitoring.labfeed.importers.fhir_received import COMPARATORS, raw_patient_mrns, received_values
from monitoring.labfeed.importers.records import (
    CORRECTION,
    FINAL,
    REMOVAL,
    CountRecord,
    FieldError,
    GcsfRecord,
    Measured,
    Parsed,
    RawUnit,
    TemperatureRecord,
)
from monitoring.labfeed.importers.validation import aware

# "message": FHIR messaging, how laboratories push results (a MessageHeader, the Patient, a
# DiagnosticReport and its Observations; e.g. the UK Core pathology messages). Resources NeutroWatch
# does not read (MessageHeader, DiagnosticReport, Specimen, ...) are counted as ignored.
BUNDLE_TYPES = {"collection", "transaction", "batch", "searchset", "transaction-response", "batch-response",
                "message"}
USED_TYPES = {"Patient", "Observation", "MedicationAdministration", "Medication"}
OBSERVATION_STATUSES = {"final": FINAL, "amended": CORRECTION, "corrected": CORRECTION, "entered-in-error": REMOVAL}
ADMINISTRATION_STATUSES = {"completed": FINAL, "entered-in-error": REMOVAL}


def _json_number(text: str) -> float:
    """Read a JSON number, refusing one a float cannot hold: 1e-999999 would become 0.0 (an ANC of 0)."""
    number = float(text)
    mantissa = text.lower().split("e")[0]
    if math.isinf(number) or (number == 0 and mantissa.strip("-+0.")):
        raise ValueError(f"the number {text[:40]} is out of range")
    return number


def parse(text: str) -> Parsed:
    """Parse a FHIR JSON document into records; invalid resources are problems naming the entry."""
    parsed = Parsed()
    try:
        data = json.loads(text, parse_float=_json_number)
    except (ValueError, RecursionError) as exc:
        parsed.problem("file", "json", f"not valid JSON: {exc}", unit="")
        return parsed
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        parsed.problem("file", "resourceType", "expected a FHIR resource or Bundle (a JSON object with resourceType)",
                       unit="")
        return parsed
    entries = _bundle_entries(data, parsed) if data["resourceType"] == "Bundle" else [("resource", "", data)]
    resources = []
    # Each entry is a unit of acceptance; its raw text is a Bundle of the entry with the Bundle's
    # Patient resources, so that it can be re-imported on its own.
    patients = [raw for _, _, raw in entries if raw.get("resourceType") == "Patient"]
    patient_mrns = raw_patient_mrns(entries)
    raws = {}
    for where, full_url, raw in entries:
        raws[where] = (full_url, raw)
        parsed.begin(where, _raw_bundle([(full_url, raw)], patients))
        resource = _validated(raw, where, parsed)
        if resource is None:  # kept for review: what it says, so that a count held still alerts
            parsed.units[where].values.update(received_values(raw, patient_mrns))
        else:
            named = f"{where} ({resource.get_resource_type()}/{resource.id or '-'})"
            resources.append((named, full_url, resource))
            parsed.units[named] = parsed.units.pop(where)
            raws[named] = raws.pop(where)
    parsed.end()
    _Reader(resources, parsed, raws, patients, patient_mrns).read()
    return parsed


def _raw_bundle(entries: list[tuple[str, dict]], patients: list[dict]) -> str:
    """Return a collection Bundle of these entries (plus the Patient resources they may refer to)."""
    listed = [raw for _, raw in entries]
    extra = [patient for patient in patients if patient not in listed]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {**({"fullUrl": url} if url else {}), "resource": raw} for url, raw in entries
    ] + [{"resource": patient} for patient in extra]}
    return json.dumps(bundle, ensure_ascii=False, default=str)


def _bundle_entries(data: dict, parsed: Parsed) -> list[tuple[str, str, dict]]:
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        parsed.problem("Bundle", "entry", "must be a list", unit="")
        return []
    shell = {key: value for key, value in data.items() if key != "entry"}
    shell["entry"] = [
        {k: v for k, v in entry.items() if k != "resource"} if isinstance(entry, dict) else entry for entry in entries
    ]
    try:
        bundle = get_fhir_model_class("Bundle").model_validate(shell)
    except ValidationError as exc:
        _report(exc, "Bundle", parsed)
        return []
    except Exception as exc:  # fhir.resources raises KeyError and friends on some malformed input
        parsed.problem("Bundle", "Bundle", f"not a valid FHIR Bundle ({exc.__class__.__name__}: {exc})", unit="")
        return []
    if bundle.type not in BUNDLE_TYPES:
        parsed.problem("Bundle", "type", f"a {bundle.type!r} Bundle does not carry results", unit="")
        return []
    found = []
    for number, entry in enumerate(entries, 1):
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            parsed.ignored += 1
            continue
        found.append((f"entry {number}", str(entry.get("fullUrl") or ""), resource))
    return found


def _validated(raw: dict, where: str, parsed: Parsed):
    resource_type = raw.get("resourceType")
    if not isinstance(resource_type, str):
        parsed.problem(where, "resourceType", "missing")
        return None
    if resource_type not in USED_TYPES:
        try:
            get_fhir_model_class(resource_type)
        except ValueError:
            parsed.problem(where, "resourceType", f"{resource_type!r} is not a FHIR resource type")
            return None
        parsed.ignored += 1
        return None
    try:
        return get_fhir_model_class(resource_type).model_validate(raw)
    except ValidationError as exc:
        _report(exc, where, parsed)
    except Exception as exc:  # e.g. KeyError for an unknown contained resource type
        parsed.problem(where, resource_type, f"not a valid {resource_type} ({exc.__class__.__name__}: {exc})")
    return None


def _report(exc: ValidationError, where: str, parsed: Parsed) -> None:
    for error in exc.errors()[:20]:
        location = ".".join(str(part) for part in error.get("loc", ())) or "resource"
        parsed.problem(where, location, error.get("msg", "invalid"))


# --- Reading validated resources (an entry that does not validate: fhir_received.py) -------------


def _loinc(codeable) -> str | None:
    for coding in (codeable.coding or []) if codeable is not None else []:
        if coding.system in (codes.LOINC_SYSTEM, None) and codes.loinc_role(coding.code):
            return coding.code
    return None


def _quantity(quantity, field: str) -> tuple:
    """Return (value, unit, qualifier); a comparator (<, <=, >, >=) makes a censored value."""
    if quantity is None or quantity.value is None:
        raise FieldError(field, "needs a valueQuantity with a value")
    unit = quantity.code if quantity.code and quantity.system in (codes.UCUM_SYSTEM, None) else quantity.unit
    try:
        value = clinical.to_decimal(quantity.value, field)
    except clinical.ClinicalValueError as exc:
        raise FieldError(field, str(exc)) from None
    return value, unit or "", COMPARATORS.get(quantity.comparator or "", "")


def _moment(resource, field_prefix: str = "effective") -> datetime:
    value = getattr(resource, f"{field_prefix}DateTime", None) or getattr(resource, f"{field_prefix}Instant", None)
    period = getattr(resource, f"{field_prefix}Period", None)
    if value is None and period is not None:
        value = period.start
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, date | str):
        raise FieldError(f"{field_prefix}DateTime", f"{value} has no time of day")
    raise FieldError(f"{field_prefix}DateTime", "the time is missing")


def _key(resource, full_url: str) -> str:
    for identifier in resource.identifier or []:
        if identifier.value:
            return identifier.value
    if resource.id:
        return f"{resource.get_resource_type()}/{resource.id}"
    return full_url


class _Reader:
    def __init__(self, resources: list, parsed: Parsed, raws: dict, patient_raws: list,
                 patient_mrns: dict[str, str]):
        self.resources, self.parsed = resources, parsed
        self.raws, self.patient_raws, self.patient_mrns = raws, patient_raws, patient_mrns
        self.patients: dict[str, str] = {}
        self.medications: dict[str, object] = {}
        self.groups: list[dict] = []

    def read(self) -> None:
        for _, full_url, resource in self.resources:
            kind = resource.get_resource_type()
            keys = [k for k in (full_url, f"{kind}/{resource.id}" if resource.id else "") if k]
            if kind == "Patient":
                mrn = _patient_mrn(resource)
                self.patients.update(dict.fromkeys(keys, mrn))
            elif kind == "Medication":
                self.medications.update(dict.fromkeys(keys, resource))
        for where, full_url, resource in self.resources:
            try:
                if resource.get_resource_type() == "Observation":
                    self._observation(where, full_url, resource)
                elif resource.get_resource_type() == "MedicationAdministration":
                    self._administration(where, full_url, resource)
            except FieldError as exc:
                self.parsed.problem(where, exc.field, exc.reason, unit=where)
                self.parsed.units[where].values.update(received_values(self.raws[where][1], self.patient_mrns))
        for group in self.groups:
            self._finish(group)

    def _mrn(self, subject) -> str:
        if subject is None:
            raise FieldError("subject", "the patient is missing")
        if subject.reference and subject.reference in self.patients:
            return self.patients[subject.reference]
        if subject.identifier is not None and subject.identifier.value:
            return subject.identifier.value
        raise FieldError("subject", f"{subject.reference or 'the reference'} is not a Patient in this Bundle "
                                    "and carries no identifier (MRN)")

    def _held(self, where: str, status: str) -> bool:
        if status in ("preliminary", "registered"):
            self.parsed.held_back.append(f"{where}: {status} result held back until the final one arrives")
            return True
        return False

    def _observation(self, where: str, full_url: str, obs) -> None:
        code = _loinc(obs.code)
        components = [(c, _loinc(c.code)) for c in obs.component or []]
        components = [(c, code_) for c, code_ in components if code_]
        if code is None and not components:
            self.parsed.ignored += 1
            return
        if self._held(where, obs.status):
            return
        status = OBSERVATION_STATUSES.get(obs.status)
        if status is None:
            raise FieldError("status", f"a {obs.status!r} Observation is not a result")
        mrn, moment, key = self._mrn(obs.subject), _moment(obs), _key(obs, full_url)
        if code and codes.loinc_role(code) == codes.TEMPERATURE:
            value, unit, qualifier = (_quantity(obs.valueQuantity, "valueQuantity") if status != REMOVAL
                                      else (None, "", ""))
            if qualifier:
                raise FieldError("valueQuantity.comparator", "a censored temperature is not a result")
            self.parsed.add(TemperatureRecord(where, mrn, moment, key, status, value, unit), unit=where)
            return
        if status == REMOVAL:
            self.parsed.add(CountRecord(where, mrn, moment, key, REMOVAL), unit=where)
            return
        if components:  # a CBC panel: one count from its components (the panel is one unit)
            measured = [(c_code, _quantity(c.valueQuantity, f"valueQuantity ({c_code})")) for c, c_code in components]
            group = self._new_group(mrn, moment, where, status)
            for component_code, quantity in measured:
                self._add(group, component_code, quantity, key)
            return
        quantity = _quantity(obs.valueQuantity, f"valueQuantity ({code})")
        value_group = self._group_for(mrn, moment, codes.loinc_role(code), where, status)
        self._add(value_group, code, quantity, key)

    def _new_group(self, mrn: str, moment: datetime, where: str, status: str) -> dict:
        group = {"mrn": mrn, "moment": moment, "wheres": [where], "values": {}, "keys": {}, "status": {status}}
        self.groups.append(group)
        return group

    def _group_for(self, mrn: str, moment: datetime, role: str, where: str, status: str) -> dict:
        for group in self.groups:
            if group["mrn"] == mrn and group["moment"] == moment and role not in group["values"]:
                group["wheres"].append(where)
                group["status"].add(status)
                return group
        return self._new_group(mrn, moment, where, status)

    def _add(self, group: dict, code: str, quantity: tuple, key: str) -> None:
        role = codes.loinc_role(code)
        value, unit, qualifier = quantity
        group["values"][role] = Measured(value, unit, f"valueQuantity ({code})", f"valueQuantity.code ({code})",
                                         qualifier)
        group["keys"][role] = key

    def _finish(self, group: dict) -> None:
        keys = group["keys"]
        accession = keys.get(codes.ANC) or keys.get(codes.WBC) or next(iter(keys.values()), "")
        status = CORRECTION if CORRECTION in group["status"] else FINAL
        where = ", ".join(group["wheres"])
        if len(group["wheres"]) > 1:  # separate Observations read as one count: one unit together
            self.parsed.units[where] = RawUnit(_raw_bundle([self.raws[w] for w in group["wheres"]], self.patient_raws))
        self.parsed.add(
            CountRecord(where, group["mrn"], group["moment"], accession, status, group["values"]), unit=where
        )

    def _administration(self, where: str, full_url: str, administration) -> None:
        product_text = self._gcsf_product(administration)
        if product_text is None:
            self.parsed.ignored += 1
            return
        status = ADMINISTRATION_STATUSES.get(administration.status)
        if status is None:
            self.parsed.held_back.append(f"{where}: a {administration.status!r} administration is not recorded")
            return
        mrn, moment, key = self._mrn(administration.subject), _moment(administration), _key(administration, full_url)
        dosage = administration.dosage
        dose, unit, route = None, "", ""
        if dosage is not None and dosage.dose is not None:
            dose = dosage.dose.value
            unit = dosage.dose.unit or dosage.dose.code or ""
        if dosage is not None and dosage.route is not None:
            coding = (dosage.route.coding or [None])[0]
            route = (coding.code if coding is not None else "") or dosage.route.text or ""
        self.parsed.add(GcsfRecord(where, mrn, moment, key, status, product_text, dose, unit, route), unit=where)

    def _gcsf_product(self, administration) -> str | None:
        """Return the product text that names a G-CSF (ATC code first), or None for other drugs."""
        concept = administration.medicationCodeableConcept
        reference = administration.medicationReference
        if concept is None and reference is not None and reference.reference in self.medications:
            concept = self.medications[reference.reference].code
        if concept is None:
            return None
        candidates = [c.code for c in concept.coding or [] if c.system == codes.ATC_SYSTEM and c.code]
        candidates += [c.display for c in concept.coding or [] if c.display]
        candidates += [concept.text] if concept.text else []
        for text in candidates:
            try:
                clinical.gcsf_product(text)
            except clinical.ClinicalValueError:
                continue
            return text
        return None


def _patient_mrn(patient) -> str:
    identifiers = [i for i in patient.identifier or [] if i.value]
    for identifier in identifiers:
        codings = identifier.type.coding if identifier.type is not None else []
        if any(c.code == "MR" for c in codings or []):
            return identifier.value
    return identifiers[0].value if identifiers else ""

"""Deciding what each valid record is: new, a duplicate, a correction or a removal of a stored result.

A lab accession (FHIR resource id, HL7 filler order number) identifies one result wherever it
came from; a record without one is the same result as a stored one at the same time with the same
value. Looked up in chunks of LOOKUP_CHUNK keys, one query per model and chunk.
"""

from __future__ import annotations

from datetime import timedelta

from monitoring.labfeed.importers.records import (
    CONFLICT,
    FINAL,
    REMOVAL,
    CountRecord,
    GcsfRecord,
    ImportReport,
    TemperatureRecord,
    unit_of,
)
from monitoring.labfeed.importers.scope import LOOKUP_CHUNK
from monitoring.labfeed.importers.validation import _record_key
from monitoring.models import CountResult, GcsfDose, TemperatureReading
from monitoring.records.batches import ResultBatch


class _Planner:
    """Sort checked records into new rows, duplicates, corrections and removals, in file order."""

    def __init__(self, batch: ResultBatch, report: ImportReport, team_ids: set[int] | None = None):
        self.batch, self.report, self.team_ids = batch, report, team_ids

    def plan(self, checked: list) -> None:
        kinds = ((CountResult, CountRecord, "accession", "collected_at"),
                 (GcsfDose, GcsfRecord, "external_id", "given_at"),
                 (TemperatureReading, TemperatureRecord, "external_id", "taken_at"))
        for model, record_type, key_field, time_field in kinds:
            items = [item for item in checked if isinstance(item[0], record_type)]
            if items:
                self._plan_kind(model, items, key_field, time_field)

    def _plan_kind(self, model, items: list, key_field: str, time_field: str) -> None:
        stored = _stored_by_key(model, key_field, {_record_key(r) for r, _, _ in items if _record_key(r)},
                                {p.pk for _, p, _ in items}, self.team_ids)
        natural = _natural_keys(model, {p.pk for r, p, _ in items if not _record_key(r)})
        new: dict[str, tuple] = {}  # key -> (patient, value), in file order
        new_units: dict[str, str] = {}
        unkeyed: list[tuple] = []
        corrections: dict[str, tuple] = {}
        removals: dict[str, object] = {}
        replaced: set[str] = set()  # keys whose stored row is removed and stored again, corrected
        for record, patient, value in items:
            key, unit = _record_key(record), unit_of(record)
            if not key:
                if record.status != FINAL:
                    self.report.add(record.where, key_field, "a correction or removal needs the accession / id",
                                    unit=unit)
                    continue
                natural_key = _natural_key_of(model, patient.pk, value)
                if natural_key in natural:
                    self.report.add_duplicate(unit)
                else:
                    natural.add(natural_key)
                    unkeyed.append((patient, value))
                    self.report.stored_units.add(unit)
                continue
            existing = [row for row in stored.get(key, []) if row.patient_id == patient.pk]
            if stored.get(key) and not existing and model is CountResult:
                # Worded so that it reveals nothing about other teams' results.
                self.report.add(record.where, key_field,
                                f"{key!r} cannot be stored for this patient: not found in your teams", unit=unit)
                continue
            row = existing[0] if existing else None
            if record.status == REMOVAL:
                replaced.discard(key)
                if key in new:
                    del new[key]
                elif row is not None and key not in removals:
                    corrections.pop(key, None)
                    removals[key] = row
                else:
                    self.report.add_duplicate(unit)  # already absent
                    continue
            elif key in removals:
                self.report.add_duplicate(unit)
                continue
            elif record.status == FINAL and (key in new or row is not None):
                if _same(model, row, value) if key not in new else _same_new(model, new[key][1], value):
                    self.report.add_duplicate(unit)
                else:  # never drop it silently: a person decides whether it corrects the stored result
                    self.report.add(record.where, key_field, f"{key!r} is already stored with another value; "
                                    "if this one corrects it, fix it here as a correction", unit=unit, kind=CONFLICT)
                continue
            elif key in new or row is None:
                new[key] = (patient, value)
                new_units[key] = unit
            elif _same(model, row, value):
                corrections.pop(key, None)
                self.report.add_duplicate(unit)
                continue
            elif model is CountResult:
                corrections[key] = (row, value)
            else:  # a corrected temperature or dose: replace the stored row
                removals[key] = row
                new[key] = (patient, value)
                replaced.add(key)
            self.report.stored_units.add(unit)
        created = [item for key, item in new.items() if key not in replaced]
        self._store(model, [*created, *unkeyed], corrections, removals, replaced, new)

    def _store(self, model, created: list, corrections: dict, removals: dict, replaced: set, new: dict) -> None:
        batch, report = self.batch, self.report
        batch.removals.extend(removals.values())
        report.removed += len(removals) - len(replaced)
        report.corrected += len(corrections) + len(replaced)
        replacements = [new[key] for key in replaced]
        if model is CountResult:
            batch.counts.extend(created)
            batch.corrections.extend(corrections.values())
            report.created_counts += len(created)
        elif model is GcsfDose:
            batch.gcsf.extend([*created, *replacements])
            report.created_gcsf += len(created)
        else:
            batch.temperatures.extend([*created, *replacements])
            report.created_temperatures += len(created)


def _stored_by_key(model, key_field: str, keys: set[str], patient_ids: set[int],
                   team_ids: set[int] | None = None) -> dict[str, list]:
    """Return the stored rows with these keys: any patient's for counts (to refuse a clash), else these patients'.

    A caller scoped to teams (an API token, a nurse's upload) sees only its teams' counts: a clash
    with another team's accession, refused while an unused one is stored, told it which exist (issue 25).
    """
    stored: dict[str, list] = {}
    keys = sorted(keys)
    scope = {} if model is CountResult else {"patient_id__in": sorted(patient_ids)}
    if model is CountResult and team_ids is not None:
        scope = {"patient__team_id__in": sorted(team_ids)}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        for row in model.objects.filter(**{f"{key_field}__in": keys[start:start + LOOKUP_CHUNK]}, **scope):
            stored.setdefault(getattr(row, key_field), []).append(row)
    return stored


def _natural_keys(model, patient_ids: set[int]) -> set[tuple]:
    if not patient_ids:
        return set()
    if model is CountResult:
        fields = ("patient_id", "collected_at", "anc_1e9_per_l", "qualifier")
    elif model is GcsfDose:
        fields = ("patient_id", "given_at", "product")
    else:
        fields = ("patient_id", "taken_at", "temperature_c")
    return set(model.objects.filter(patient_id__in=patient_ids).values_list(*fields))


def _natural_key_of(model, patient_id: int, value) -> tuple:
    if model is CountResult:
        return (patient_id, value.collected_at, value.anc_1e9_per_l, value.qualifier)
    if model is GcsfDose:
        return (patient_id, value["given_at"], value["product"])
    return (patient_id, value["taken_at"], value["temperature_c"])


COMPARED_COUNT_FIELDS = ("anc_1e9_per_l", "qualifier", "wbc_1e9_per_l", "neutrophil_pct", "band_pct")
# An export prints times to the minute: the same result read back is not a different one.
SAME_TIME_WITHIN = timedelta(minutes=1)


def _same_count(stored, value) -> bool:
    return abs(stored.collected_at - value.collected_at) < SAME_TIME_WITHIN and all(
        getattr(stored, name) == getattr(value, name) for name in COMPARED_COUNT_FIELDS
    )


def _same(model, row, value) -> bool:
    """Return True if a record says what is already stored (a re-sent result or correction)."""
    if model is CountResult:
        return _same_count(row, value)
    return all(getattr(row, name) == fields_value for name, fields_value in value.items() if name != "external_id")


def _same_new(model, earlier, value) -> bool:
    """Return True if two records of the same file with one key say the same thing."""
    if model is CountResult:
        return _same_count(earlier, value)
    return earlier == value

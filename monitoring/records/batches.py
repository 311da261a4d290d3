"""Whole-file imports: store everything one file (or one MLLP group commit) changes in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from monitoring.clinical import CountInput
from monitoring.models import CountResult, GcsfDose, Patient, TemperatureReading
from monitoring.records.changes import results_changed
from monitoring.records.counts import _apply_correction, _new_count


@dataclass
class ResultBatch:
    """Everything one imported file changes, validated and resolved to patients and stored rows."""

    counts: list[tuple[Patient, CountInput]]
    gcsf: list[tuple[Patient, dict]]
    temperatures: list[tuple[Patient, dict]]
    corrections: list[tuple[CountResult, CountInput]]
    removals: list[CountResult | GcsfDose | TemperatureReading]


def record_batch(batch: ResultBatch, *, source: str, user=None) -> None:
    """Store a whole imported file in one transaction, with one recompute per affected cycle.

    The caller has already dropped duplicates; a row that slips in concurrently raises
    IntegrityError (one accession per patient, or the same unkeyed result) and the whole batch is
    rolled back; the importer then re-plans and finds it a duplicate.
    """
    now = timezone.now()
    moments: dict[int, list[datetime]] = {}

    def touch(patient_id: int, *when: datetime) -> None:
        moments.setdefault(patient_id, []).extend(when)

    # No savepoint of its own: the importer's transaction is the unit (one round trip less per message).
    with transaction.atomic(savepoint=False):
        # Removals first: a corrected dose or temperature is stored again under the same id.
        for result in batch.removals:
            touch(result.patient_id, getattr(result, "collected_at", None) or getattr(result, "given_at", None)
                  or result.taken_at)
            result.delete()
        counts = [_new_count(patient, count, source, user) for patient, count in batch.counts]
        insert_with_history(counts, CountResult, user=user, now=now)
        doses = [GcsfDose(patient=p, entered_by=user, source=source, **fields) for p, fields in batch.gcsf]
        insert_with_history(doses, GcsfDose, user=user, now=now)
        readings = [
            TemperatureReading(patient=p, entered_by=user, source=source, **fields) for p, fields in batch.temperatures
        ]
        insert_with_history(readings, TemperatureReading, user=user, now=now)
        for patient, count in batch.counts:
            touch(patient.pk, count.collected_at)
        for patient, fields in batch.gcsf:
            touch(patient.pk, fields["given_at"])
        for patient, fields in batch.temperatures:
            touch(patient.pk, fields["taken_at"])
        for result, count in batch.corrections:
            touch(result.patient_id, result.collected_at, count.collected_at)
            _apply_correction(result, count)
        results_changed(moments, now)


COPY_FROM_ROWS = 1000


def insert_with_history(objs: list, model, *, user=None, now: datetime) -> None:
    """Insert new rows and their '+' history rows; large PostgreSQL batches go through COPY.

    bulk_create spends most of its time preparing each value in Python; COPY streams the
    rows as they are, which keeps a 100,000-row import within seconds. Primary keys are
    taken from the table's sequence first so the history rows can point at them.
    """
    if not objs:
        return
    if connection.vendor != "postgresql" or len(objs) < COPY_FROM_ROWS:
        bulk_create_with_history(objs, model, batch_size=2000, default_user=user)
        return
    table = model._meta.db_table
    fields = model._meta.concrete_fields
    history = model.history.model
    extra = {"history_date": now, "history_change_reason": None, "history_type": "+",
             "history_user_id": user.pk if user is not None else None}
    history_columns = [f.column for f in history._meta.concrete_fields if f.attname != "history_id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                       [table, len(objs)])
        for obj, (pk,) in zip(objs, cursor.fetchall()):
            obj.pk = pk
            obj._state.adding = False
            for field in fields:
                if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
                    setattr(obj, field.attname, now)
        rows = [[getattr(obj, f.attname) for f in fields] for obj in objs]
        _copy(cursor, table, [f.column for f in fields], rows)
        by_column = [f.attname for f in fields]
        if not set(history_columns) - set(extra) <= set(by_column):
            # A history model with fields we do not know: let simple_history write it.
            history.objects.bulk_history_create(objs, default_user=user, default_date=now)
            return
        picks = [(extra[c], None) if c in extra else (None, by_column.index(c)) for c in history_columns]
        history_rows = [[value if index is None else row[index] for value, index in picks] for row in rows]
        _copy(cursor, history._meta.db_table, history_columns, history_rows)


def _copy(cursor, table: str, columns: list[str], rows: list[list]) -> None:
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)

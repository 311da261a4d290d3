"""Counts held for review: a grade 3-4 count kept in the exceptions queue still raises an alert."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from monitoring import clinical
from monitoring.alerts import rules
from monitoring.alerts.lifecycle import Verdict, apply_verdicts
from monitoring.models import Alert, ImportException, Patient


def evaluate_held(patient_ids, now: datetime | None = None) -> list[Alert]:
    """Raise, keep or resolve each patient's "count held for review" alert (rules.held_result).

    Called where a patient's open exceptions change: an import that keeps a record of a known
    patient (in its transaction) and closing an exception (fixed, dismissed, re-tried). No other
    evaluation touches this kind. Locks the patients (after any cycles the caller has locked, as
    the save path does), so two imports cannot both raise it.
    """
    ids = sorted({pk for pk in patient_ids if pk is not None})
    if not ids:
        return []
    now = now or timezone.now()
    patients = list(Patient.objects.select_for_update(of=("self",)).select_related("team")
                    .filter(pk__in=ids).order_by("pk"))
    held: dict[int, list[rules.HeldCount]] = defaultdict(list)
    rows = ImportException.objects.filter(status=ImportException.Status.OPEN, patient_id__in=ids).order_by("pk")
    for exception in rows.only("pk", "patient_id", "values", "problems"):
        anc = held_anc(exception.values)
        if anc is not None:
            held[exception.patient_id].append(rules.HeldCount(
                exception.pk, anc, exception.values.get("collected_at", "")[:16].replace("T", " "),
                exception.problems_text))
    verdicts = [Verdict(p, None, [f] if (f := rules.held_result(held[p.pk])) is not None else [])
                for p in patients]
    return apply_verdicts(verdicts, {rules.HELD_RESULT}, now)


def held_anc(values: dict) -> Decimal | None:
    """Return the ANC (10^9/L) a held record's values say, or None if they are not a readable count.

    The ANC, or the WBC with the neutrophil % (bands added when given); a censored "<0.1" counts
    as its bound. Values in a unit that makes them implausible are not graded.
    """
    def number(key: str) -> Decimal | None:
        text = values.get(key)
        return clinical.to_censored_decimal(text, key)[1] if text else None

    try:
        return clinical.parse_count(
            collected_at=timezone.now(), unit=values.get("unit") or clinical.UNIT_1E9_PER_L, anc=number("anc"),
            wbc=number("wbc"), neutrophil_pct=number("neutrophil_pct"), band_pct=number("band_pct"),
        ).anc_1e9_per_l
    except clinical.ClinicalValueError:
        return None

"""Counts held for review: a count kept in the exceptions queue still raises an alert.

Graded under every reading its hold names (as received, and the suspected unit or decimal slip):
any grade 4 reading is critical, grade 3 high; a count that cannot be read at all is "unreadable
count held" (high). A held temperature is read in its unit and the other (101.3 "C" is 38.50 °C
if it is °F): 38.0 °C or more under any reading is critical, one that cannot be read high.
Results for an MRN nobody has registered are in `unregistered.py`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from monitoring import clinical
from monitoring.alerts import rules
from monitoring.alerts.lifecycle import Verdict, apply_verdicts
from monitoring.alerts.state import PatientAlerts
from monitoring.models import Alert, AlertEvent, CountResult, ImportException, Patient

_COUNT_KEYS = ("anc", "wbc", "neutrophil_pct", "band_pct")


def evaluate_held(patient_ids, now: datetime | None = None) -> list[Alert]:
    """Raise, keep or resolve each patient's "count held for review" and "unreadable count held" alerts.

    Called where a patient's open exceptions change: an import that keeps a record of a known
    patient (in its transaction) and closing an exception (fixed, dismissed, re-tried). No other
    evaluation touches these kinds. Locks the patients (after any cycles the caller has locked, as
    the save path does), so two imports cannot both raise it. A held count that is now worse than
    the live alert says (grade 3 -> a reading of grade 4) replaces it through the lifecycle's "worse
    is news": a new critical alert, linked to the one it supersedes, told to the team at once.
    """
    ids = sorted({pk for pk in patient_ids if pk is not None})
    if not ids:
        return []
    now = now or timezone.now()
    patients = list(Patient.objects.select_for_update(of=("self",)).select_related("team")
                    .filter(pk__in=ids).order_by("pk"))
    held: dict[int, list[rules.HeldCount]] = defaultdict(list)
    unreadable: dict[int, list[rules.UnreadableCount]] = defaultdict(list)
    rows = ImportException.objects.filter(status=ImportException.Status.OPEN, patient_id__in=ids).order_by("pk")
    temperatures: dict[int, list[rules.HeldTemperature]] = defaultdict(list)
    for exception in rows.only("pk", "patient_id", "values", "problems"):
        if exception.values.get("temperature"):
            temperatures[exception.patient_id].append(held_temperature(exception))
        if not any(exception.values.get(key) for key in _COUNT_KEYS):
            continue  # a G-CSF dose or a temperature alone
        collected = exception.values.get("collected_at", "")[:16].replace("T", " ")
        received = held_received(exception.values)
        readings = held_count_readings(exception.patient_id, exception.values)
        if readings:
            held[exception.patient_id].append(
                rules.HeldCount(exception.pk, tuple(readings), received, collected, exception.problems_text))
        else:
            unreadable[exception.patient_id].append(
                rules.UnreadableCount(exception.pk, received, collected, exception.problems_text))
    alerts = PatientAlerts.load(ids)
    verdicts = []
    for patient in patients:
        findings = [f for f in (rules.held_result(held[patient.pk]), rules.unreadable_held(unreadable[patient.pk]),
                                rules.held_temperature(temperatures[patient.pk])) if f is not None]
        _resolve_if_closed(alerts, patient.pk, findings, now)
        verdicts.append(Verdict(patient, None, findings))
    return apply_verdicts(verdicts, set(rules.HELD_KINDS), now, alerts=alerts)


def _resolve_if_closed(alerts: PatientAlerts, patient_id: int, findings: list[rules.Finding], now: datetime) -> None:
    """Resolve a live held alert (even a critical one) whose exceptions a person has all closed.

    Only closing an exception (fixed, dismissed, re-tried: a person's decision on that very value)
    ends what these alerts ask for, so a critical one needs no separate acknowledgement. The
    resolution is in the alert's history like any other.
    """
    found = {f.kind for f in findings}
    for kind in rules.HELD_KINDS:
        live = alerts.live.get((patient_id, None, kind))
        if live is not None and kind not in found:
            if Alert.objects.filter(pk=live.pk, resolved_at__isnull=True).update(resolved_at=now, cleared_at=now):
                AlertEvent.objects.create(alert_id=live.pk, kind=AlertEvent.Kind.RESOLVED, at=now,
                                          words="every count it held was fixed, re-tried or dismissed")
            del alerts.live[(patient_id, None, kind)]


def held_count_readings(patient_id: int | None, values: dict) -> list[clinical.Reading]:
    """Return every reading of a held count (clinical.held_readings), or [] if it cannot be read.

    The number as received is the ANC, or WBC x (neutrophil % + band %) / 100; a censored "<0.1"
    counts as its bound. The previous count (for a delta-check hold) is the patient's last stored
    count of the 48 h before this one.
    """
    try:
        number = _received_number(values)
        if number is None:
            return []
        return clinical.held_readings(number, values.get("unit") or clinical.UNIT_1E9_PER_L,
                                      _previous_anc(patient_id, values.get("collected_at", "")))
    except (clinical.ClinicalValueError, ArithmeticError):
        return []


def held_temperature(exception: ImportException) -> rules.HeldTemperature:
    """Return a held temperature with every reading it may be (clinical.held_temperature_readings)."""
    values = exception.values
    unit = values.get("temperature_unit") or ""
    try:
        readings = clinical.held_temperature_readings(clinical.to_decimal(values["temperature"], "temperature"), unit)
    except (clinical.ClinicalValueError, ArithmeticError):
        readings = []
    return rules.HeldTemperature(exception.pk, tuple(readings), f"Temperature {values['temperature']} {unit}".strip(),
                                 values.get("collected_at", "")[:16].replace("T", " "), exception.problems_text)


def held_anc(values: dict) -> Decimal | None:
    """Return the lowest ANC (10^9/L) any reading of a held record gives, or None if it cannot be read."""
    readings = held_count_readings(None, values)
    return min((r.anc_1e9_per_l for r in readings), default=None)


def held_received(values: dict) -> str:
    """Return a held count as received, in words: "ANC 80 x10^9/L", "WBC 1,2 with neutrophils 40 %"."""
    unit = values.get("unit") or ""
    unit = dict(clinical.COUNT_UNIT_CHOICES).get(unit, unit)
    if values.get("anc"):
        return f"ANC {values['anc']} {unit}".strip()
    words = f"WBC {values.get('wbc', '?')} {unit}".strip()
    if values.get("neutrophil_pct"):
        words += f" with neutrophils {values['neutrophil_pct']} %"
    return words


def _received_number(values: dict) -> Decimal | None:
    def number(key: str) -> Decimal | None:
        text = values.get(key)
        return clinical.to_censored_decimal(text, key)[1] if text else None

    anc = number("anc")
    if anc is not None:
        return anc
    wbc, neutrophils = number("wbc"), number("neutrophil_pct")
    if wbc is None or neutrophils is None:
        return None
    return clinical.anc_from_differential(wbc, neutrophils, number("band_pct"))


def _previous_anc(patient_id: int | None, collected_at: str) -> Decimal | None:
    """Return the patient's last stored ANC of the DELTA_WITHIN before `collected_at`, or None."""
    try:
        moment = datetime.fromisoformat(collected_at)
    except ValueError:
        return None
    if patient_id is None or timezone.is_naive(moment):
        return None  # an ambiguous local time: no previous count to compare with
    return (CountResult.objects.filter(patient_id=patient_id, collected_at__lt=moment,
                                       collected_at__gte=moment - clinical.DELTA_WITHIN)
            .order_by("-collected_at", "-pk").values_list("anc_1e9_per_l", flat=True).first())

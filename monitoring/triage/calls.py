"""Record a telephone triage call; what the nurse sees beside it; follow-ups.

A call is kept whole (who, when, each symptom's grade, outcome, advice, follow-up due). A
temperature given on the call is stored as a reading through the readings write path
(`records.record_temperature`), so the fever rules run on it as on any other. An "assess face to
face now" outcome raises a critical alert that goes through the team's escalation chain (the
person on duty is told); a second such call while that alert is open starts its chain again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from monitoring import clinical, records
from monitoring.alerts import chain_hooks as duty_hooks
from monitoring.alerts import timers
from monitoring.alerts.presentation import alert_order
from monitoring.cycle_calendar import day_of_cycle
from monitoring.models import Alert, ChemoAdministration, CountResult, Patient, TriageCall, TriageSymptom
from monitoring.models.duty import TriageCallGrade
from monitoring.models.results import Source
from monitoring.triage import rules


@dataclass(frozen=True)
class CallInput:
    """What the nurse entered: a grade per symptom id (ungraded rows are green), temperature, advice."""

    grades: dict[int, str]
    temperature_c: Decimal | None = None
    caller: str = ""
    advice: str = ""


def context(patient: Patient, now: datetime) -> dict:
    """Return what the nurse needs beside the call: latest ANC and its age, days since chemo, regimen, alerts."""
    count = CountResult.objects.filter(patient=patient, collected_at__lte=now).order_by("-collected_at", "-pk").first()
    chemo = (ChemoAdministration.objects.filter(cycle__course__patient=patient, given_at__lte=now)
             .select_related("cycle__course__regimen").order_by("-given_at").first())
    course = patient.courses.filter(active=True).select_related("regimen").first()
    # In the ward's and the patient page's order: febrile neutropenia first, then the most severe.
    alerts = sorted(Alert.objects.filter(patient=patient, resolved_at__isnull=True).select_related("cycle"),
                    key=alert_order)
    return {
        "anc_1e9_per_l": str(count.anc_1e9_per_l) if count else None,
        # As the header reads it: a censored count is "<0.1", not its bound "0.100".
        "anc_as_received": clinical.count_text(count.anc_1e9_per_l, count.qualifier) if count else None,
        "anc_collected_at": count.collected_at.isoformat() if count else None,
        "anc_age_hours": round((now - count.collected_at).total_seconds() / 3600, 1) if count else None,
        # Calendar days in clinic time, as the cycle's day counts them (day 8 is 7 days on), not 24-hour periods.
        "days_since_chemo": day_of_cycle(now, chemo.given_at, timezone.get_current_timezone()) - 1 if chemo else None,
        "regimen": course.regimen.name if course else (chemo.cycle.course.regimen.name if chemo else None),
        "open_alerts": [f"{a.get_severity_display()}: {a.title} ({a.which_words})" for a in alerts],
    }


def record_call(patient: Patient, entered: CallInput, *, user, now: datetime | None = None) -> TriageCall:
    """Store one call with its grades and outcome; store its temperature; raise an alert if red."""
    now = now or timezone.now()
    symptoms = {s.pk: s for s in TriageSymptom.objects.filter(active=True)}
    grades = {pk: entered.grades.get(pk) or rules.GREEN for pk in symptoms}
    forced = rules.fever_grade(entered.temperature_c)
    for pk, symptom in symptoms.items():
        if symptom.name.lower() == rules.FEVER_ROW:
            grades[pk] = rules.worst(grades[pk], forced)
    outcome = rules.outcome(list(grades.values()))
    with transaction.atomic():
        call = TriageCall.objects.create(
            patient=patient, called_at=now, taken_by=user, caller=entered.caller, advice=entered.advice,
            temperature_c=entered.temperature_c, outcome=outcome, context=context(patient, now),
            follow_up_due=now + clinical.TRIAGE_CALL_BACK_WITHIN if outcome == rules.CALL_BACK else None,
        )
        TriageCallGrade.objects.bulk_create(
            TriageCallGrade(call=call, symptom=symptoms[pk], symptom_name=symptoms[pk].name, grade=grade)
            for pk, grade in grades.items())
        if entered.temperature_c is not None:
            records.record_temperature(patient, user=user, source=Source.MANUAL, taken_at=now,
                                        temperature_c=entered.temperature_c, entered_value=str(entered.temperature_c),
                                        entered_unit="C")
        if outcome == rules.ASSESS_NOW:
            call.alert = _raise(patient, call, now)
            call.save(update_fields=["alert"])
    return call


def _raise(patient: Patient, call: TriageCall, now: datetime) -> Alert:
    """Raise the critical "assess now" alert (or re-notify the open one) through the escalation chain."""
    from monitoring.alerts.delivery import create_deliveries, dispatch
    from monitoring.alerts.recipients import notifications

    named = [g.symptom_name for g in call.grades.all() if g.grade != rules.GREEN]
    # Symptoms only: the message goes out by email, SMS and webhook, so no free text (the caller's
    # name, the advice) is copied into it; the call itself is on the triage page.
    message = (f"Telephone triage at {timezone.localtime(now):%H:%M}: assess face to face now "
               f"({', '.join(named)}).")
    live = Alert.objects.filter(patient=patient, cycle__isnull=True, kind=Alert.Kind.TRIAGE_RED,
                                resolved_at__isnull=True).first()
    if live is not None:
        Alert.objects.filter(pk=live.pk).update(message=message, acknowledged_at=None, acknowledged_by=None)
        timers.restart(live.pk, now)
        return live
    # The call is over when the alert is raised (cleared_at): acknowledging it closes it.
    alert = Alert.objects.create(patient=patient, kind=Alert.Kind.TRIAGE_RED, severity=Alert.Severity.CRITICAL,
                                 message=message, evidence={"triage_call_id": call.pk}, raised_at=now,
                                 cleared_at=now)
    # The same notification on raise as any alert (alerts.recipients, alerts.delivery), then the chain.
    deliveries = create_deliveries(notifications([alert]))
    transaction.on_commit(lambda: dispatch(deliveries))
    duty_hooks.alerts_raised([alert], now)
    return alert


def open_follow_ups(user, now: datetime) -> list[TriageCall]:
    """Return the calls of the user's teams whose follow-up call is still to be made, soonest first."""
    return list(TriageCall.objects.filter(patient__in=Patient.objects.visible_to(user), follow_up_due__isnull=False,
                                          follow_up_done_at__isnull=True)
                .select_related("patient").order_by("follow_up_due")[:50])


def close_follow_up(call_id: int, now: datetime) -> bool:
    """Mark a call's follow-up made; False if it already was."""
    return bool(TriageCall.objects.filter(pk=call_id, follow_up_done_at__isnull=True).update(follow_up_done_at=now))

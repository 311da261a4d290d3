"""Durable escalation timers: every pending step is an `EscalationTimer` row; the auditor fires them.

- `start_chains` (called where alerts are raised) snapshots the team's chain on each alert and
  writes one timer row per step, in the raising transaction. Quiet hours hold the steps of a low
  or medium alert until the next shift starts; a high or critical alert is never held.
- `restart` (a live alert worsened) cancels the pending steps and starts the chain again.
- `stop` (acknowledgement) cancels every pending step and every chain delivery not yet sent.
- `fire_due` (the auditor, a beat job every NEUTROWATCH["DUTY_AUDITOR_SECONDS"]) fires each due
  step exactly once: per alert, under a lock on its escalation row, in order of due time, each step
  claimed by a conditional update in the same transaction that writes its deliveries. Celery
  countdowns (`publish_countdowns`) only make a step prompt; losing one loses nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring import jobs
from monitoring.alerts import chains
from monitoring.duty import rota
from monitoring.models import Alert, AlertEscalation, Delivery, EscalationTimer, TeamDuty

log = logging.getLogger(__name__)

# Quiet hours may hold these severities (issue 24: never a high or critical alert).
HOLDABLE_SEVERITIES = (Alert.Severity.LOW, Alert.Severity.MEDIUM)


def start_chains(alerts: list[Alert], now: datetime) -> int:
    """Start the team's chain on each newly raised alert; return how many started (in the caller's transaction).

    A fixed number of queries for any number of alerts (an import may raise hundreds): the teams'
    chains (2), their duty settings (1), the escalations (1) and the timers (1), plus one rota read
    per team with an alert held by quiet hours.
    """
    # An unregistered MRN's alert has no patient, so no team: it goes to its named list instead.
    alerts = [alert for alert in alerts if alert.patient_id is not None]
    by_team = chains.chains_for_teams(alert.patient.team_id for alert in alerts)
    chosen = [(alert, chain) for alert in alerts
              if (chain := chains.pick(by_team.get(alert.patient.team_id, []), alert.severity)) is not None]
    if not chosen:
        return 0
    duties = {d.team_id: d for d in TeamDuty.objects.filter(team_id__in={a.patient.team_id for a, _ in chosen})}
    holds: dict[int, datetime | None] = {}
    escalations = []
    for alert, chain in chosen:
        team_id = alert.patient.team_id
        held = None
        if alert.severity in HOLDABLE_SEVERITIES:
            if team_id not in holds:
                holds[team_id] = _held_until(team_id, duties.get(team_id), now)
            held = holds[team_id]
        escalations.append(AlertEscalation(alert=alert, chain=chain, steps=chains.snapshot(chain), started_at=now,
                                           held_until=held))
    AlertEscalation.objects.bulk_create(escalations)
    timers = _schedule(escalations, now)
    transaction.on_commit(lambda: publish_countdowns(timers))
    return len(escalations)


def _schedule(escalations: list[AlertEscalation], now: datetime) -> list[tuple[int, int, datetime]]:
    """Write the timer rows of each escalation's current round; return (timer, alert, due) triples."""
    timers = EscalationTimer.objects.bulk_create(
        EscalationTimer(alert_id=e.alert_id, round=e.round, step=index, attempt=step.get("attempt", 0),
                        target=step["target"], due_at=(e.held_until or now) + timedelta(minutes=step["after_minutes"]))
        for e in escalations for index, step in enumerate(e.steps)
    )
    return [(t.pk, t.alert_id, t.due_at) for t in timers]


def _held_until(team_id: int, duty: TeamDuty | None, now: datetime) -> datetime | None:
    """Return when a low or medium alert raised now may start escalating (None: at once).

    In quiet hours: the first shift that starts once they are over (the day shift after a quiet
    night), or the end of the quiet hours if the team has no rota.
    """
    if duty is None or not rota.in_quiet_hours(duty.quiet_start, duty.quiet_end, now):
        return None
    local = now.astimezone(rota.clinic_tz())
    quiet_over = rota.at_local(local.date(), duty.quiet_end)
    if quiet_over <= now:
        quiet_over = rota.at_local(local.date() + timedelta(days=1), duty.quiet_end)
    return rota.next_shift_start(team_id, quiet_over - timedelta(microseconds=1)) or quiet_over


def restart(alert_id: int, now: datetime) -> bool:
    """Start the chain again for an alert that worsened (its new severity's chain); False if none."""
    alert = Alert.objects.select_related("patient").get(pk=alert_id)
    chain = chains.chain_for(alert.patient.team_id, alert.severity)
    if chain is None:
        return False
    _cancel_pending(alert_id, now)
    escalation, created = AlertEscalation.objects.get_or_create(
        alert=alert, defaults={"chain": chain, "steps": chains.snapshot(chain), "started_at": now})
    held = None
    if alert.severity in HOLDABLE_SEVERITIES:
        held = _held_until(alert.patient.team_id, TeamDuty.objects.filter(team_id=alert.patient.team_id).first(), now)
    if not created:
        escalation.chain, escalation.steps, escalation.started_at = chain, chains.snapshot(chain), now
        escalation.round, escalation.stopped_at, escalation.stop_reason = escalation.round + 1, None, ""
    escalation.held_until = held
    escalation.save()
    timers = _schedule([escalation], now)
    transaction.on_commit(lambda: publish_countdowns(timers))
    return True


def stop(alert_id: int, now: datetime, reason: str = "acknowledged") -> int:
    """Cancel every pending step of the alert and its chain deliveries not yet sent; return steps cancelled."""
    cancelled = _cancel_pending(alert_id, now)
    Delivery.objects.filter(alert_id=alert_id, timer__isnull=False,
                            status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]).update(
        status=Delivery.Status.FAILED, last_error=f"not sent: the alert was {reason} first", next_attempt_at=None)
    AlertEscalation.objects.filter(alert_id=alert_id, stopped_at__isnull=True).update(stopped_at=now,
                                                                                      stop_reason=reason)
    return cancelled


def _cancel_pending(alert_id: int, now: datetime) -> int:
    return EscalationTimer.objects.filter(alert_id=alert_id, fired_at__isnull=True,
                                          cancelled_at__isnull=True).update(cancelled_at=now)


def fire_due(now: datetime | None = None, alert_id: int | None = None) -> int:
    """Fire every step due by `now` (of one alert, or all), each exactly once; return how many fired."""
    now = now or timezone.now()
    due = EscalationTimer.objects.filter(fired_at__isnull=True, cancelled_at__isnull=True, due_at__lte=now)
    if alert_id is not None:
        due = due.filter(alert_id=alert_id)
    alert_ids = list(dict.fromkeys(due.order_by("due_at").values_list("alert_id", flat=True)))
    return sum(_fire_alert(each, now) for each in alert_ids)


def _fire_alert(alert_id: int, now: datetime) -> int:
    """Fire the alert's due steps in order, under a lock on its escalation (one firer at a time)."""
    fired = 0
    with transaction.atomic():
        if AlertEscalation.objects.select_for_update().filter(alert_id=alert_id).first() is None:
            return 0
        alert = Alert.objects.select_related("patient__team").get(pk=alert_id)
        due = list(EscalationTimer.objects.filter(alert_id=alert_id, fired_at__isnull=True, cancelled_at__isnull=True,
                                                  due_at__lte=now).order_by("due_at", "step"))
        if alert.acknowledged_at is not None or alert.resolved_at is not None:
            stop(alert_id, now, "acknowledged" if alert.acknowledged_at else "resolved")
            return 0
        deliveries = []
        for timer in due:
            if not EscalationTimer.objects.filter(pk=timer.pk, fired_at__isnull=True,
                                                  cancelled_at__isnull=True).update(fired_at=now):
                continue
            deliveries += _notify(alert, timer, now)
            fired += 1
        transaction.on_commit(lambda: _dispatch(deliveries))
    return fired


def _notify(alert: Alert, timer: EscalationTimer, now: datetime) -> list[tuple[int, str]]:
    """Write the step's deliveries; say so on the alert if nobody was on duty.

    Who is told is who was on duty when the step fell due: an auditor run a little late after a
    handover does not send the day shift's alert to the night shift.
    """
    who = chains.recipients(alert.patient.team, timer.target, timer.due_at)
    first = timer.round == 0 and timer.step == 0
    purpose = Delivery.Purpose.NOTIFY if first else Delivery.Purpose.ESCALATE
    rows = chains.deliveries_for(who, alert=alert, timer=timer, purpose=purpose)
    EscalationTimer.objects.filter(pk=timer.pk).update(
        recipients=who.names(), note="nobody on duty: sent to the fallback contact" if who.nobody_on_duty else "")
    if who.nobody_on_duty:
        _say_nobody_on_duty(alert, who)
    created = Delivery.objects.bulk_create(rows)
    return [(d.pk, d.channel) for d in created]


def _say_nobody_on_duty(alert: Alert, who: chains.Recipients) -> None:
    """Add to the alert's message that nobody was on duty, once (the inbox, emails and SMS show it)."""
    if AlertEscalation.objects.filter(alert_id=alert.pk, reached_nobody=True).exists():
        return
    AlertEscalation.objects.filter(alert_id=alert.pk).update(reached_nobody=True)
    contact = ", ".join([*who.fallback_emails, *who.fallback_phones]) or "nobody (no fallback contact is set)"
    alert.message = f"{alert.message} Nobody was on duty for {alert.patient.team}: sent to {contact}."
    Alert.objects.filter(pk=alert.pk).update(message=alert.message)


def _dispatch(deliveries: list[tuple[int, str]]) -> None:
    from monitoring.alerts.delivery import dispatch

    dispatch(deliveries)


def publish_countdowns(timers: list[tuple[int, int, datetime]]) -> None:
    """Ask the worker to fire each step at its due time (a speed-up: the auditor is the record)."""
    horizon = timedelta(seconds=settings.NEUTROWATCH["DUTY_COUNTDOWN_HORIZON_SECONDS"])
    now = timezone.now()
    for _, alert_id, due_at in timers:
        if due_at - now > horizon:
            continue  # a message held for hours in a worker is no use; the auditor fires it
        try:
            jobs.send(jobs.FIRE_ESCALATION, (alert_id,), eta=max(due_at, now), retry=False)
        except Exception:  # the broker is down: the auditor fires it on time anyway
            log.warning("escalation countdown for alert %s not published; the auditor will fire it", alert_id)
            return

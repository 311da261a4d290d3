"""Alert services: evaluate the rules after a recompute, raise and resolve alerts, deliver, escalate.

The Alert rows are the in-app inbox. Each alert is raised for a *condition* of a cycle and
stays the one open alert for it while the condition lasts (a database constraint allows one
unresolved alert per cycle and kind); when the condition clears the alert is resolved. So a
condition that persists over many results raises one alert, and a duplicate result none.

Deliveries follow the healthchecks pattern: a `Delivery` row per channel and recipient is
written in the same transaction as the alert, the transport runs after commit, outside any
transaction, and its outcome is written back. A delivery is claimed with a conditional update
on its attempt count, so two workers never send the same attempt twice.

Who is told (kept simple on purpose):
- in-app: the patient's responsible nurse; without one (or if she left the team), every active
  nurse of the patient's team (every active member if the team has no nurses);
- email: the same people, for alerts of severity >= NEUTROWATCH["EMAIL_MIN_SEVERITY"] (high);
- webhook: the team's URL, if configured, for severity >= NEUTROWATCH["WEBHOOK_MIN_SEVERITY"];
- escalation: an unacknowledged, unresolved critical alert, ESCALATE_AFTER_MINUTES after it was
  raised, is emailed to Team.escalation_email (and sent to the webhook, marked "escalate").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring import alert_rules, clinical
from monitoring.models import Alert, CountResult, Cycle, Delivery, Forecast, GcsfDose, TemperatureReading, User
from monitoring.transports import TransportError, transport_for

log = logging.getLogger(__name__)

# A claimed delivery not finished after this long is taken to be lost (its worker died).
CLAIM_TIMEOUT = timedelta(minutes=10)
# The sweep looks at cycles that started within this many days (longer than any cycle).
SWEEP_CYCLE_LOOKBACK = timedelta(days=60)
# Publishing gives up fast when the broker is down: the sweep re-dispatches what was not sent.
FAST_PUBLISH = {"retry": True, "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.1,
                                                  "interval_max": 0.1}}


def thresholds() -> alert_rules.Thresholds:
    """Return the clinic's alert thresholds from settings.NEUTROWATCH."""
    config = settings.NEUTROWATCH
    return alert_rules.Thresholds(
        grade4_predicted_probability=config["GRADE4_PREDICTED_THRESHOLD"],
        not_ready_probability=config["NOT_READY_PROBABILITY"],
    )


# --- Evaluate -----------------------------------------------------------------------------


def evaluate_alerts(cycle_id: int, now: datetime | None = None) -> list[Alert]:
    """Run the rules for one cycle against its stored forecast; return the alerts raised."""
    now = now or timezone.now()
    with transaction.atomic():
        cycle = (
            Cycle.objects.select_for_update(of=("self",))
            .select_related("course__regimen", "course__patient")
            .filter(pk=cycle_id)
            .first()
        )
        if cycle is None:
            return []
        return evaluate_locked(cycle, Forecast.objects.filter(cycle_id=cycle_id).first(), now)


def evaluate_locked(cycle: Cycle, forecast: Forecast | None, now: datetime) -> list[Alert]:
    """Raise new conditions and resolve cleared ones; the caller holds the cycle's row lock.

    Deliveries of the raised alerts are written now and sent when the transaction commits.
    """
    findings = {f.kind: f for f in alert_rules.evaluate(cycle_facts(cycle, forecast, now), thresholds())}
    live = {alert.kind: alert for alert in Alert.objects.filter(cycle=cycle, resolved_at__isnull=True)}
    cleared = [alert.pk for kind, alert in live.items() if kind not in findings]
    if cleared:
        Alert.objects.filter(pk__in=cleared).update(resolved_at=now)
    raised = [
        Alert(patient_id=cycle.course.patient_id, cycle=cycle, kind=f.kind, severity=f.severity,
              message=f.message, evidence=f.evidence, raised_at=now)
        for kind, f in findings.items() if kind not in live
    ]
    if raised:
        Alert.objects.bulk_create(raised)
        deliveries = _create_deliveries(_notifications(raised, cycle.course.patient))
        transaction.on_commit(lambda: dispatch(deliveries))
    return raised


def cycle_facts(cycle: Cycle, forecast: Forecast | None, now: datetime) -> alert_rules.CycleFacts:
    """Gather what the rules need about `cycle` at `now` (four small queries)."""
    course, patient = cycle.course, cycle.course.patient
    regimen = course.regimen
    day1 = cycle.day1
    next_cycle = (
        Cycle.objects.filter(course_id=course.pk, number=cycle.number + 1)
        .exclude(status=Cycle.Status.CANCELLED)
        .first()
    )
    over = (
        not (course.active and patient.active)
        or cycle.status == Cycle.Status.CANCELLED
        or (next_cycle is not None and next_cycle.day1 <= now)
    )
    counts = CountResult.objects.filter(
        patient_id=patient.pk, collected_at__gte=day1 - clinical.PRE_DOSE_COUNT_WINDOW, collected_at__lte=now
    ).order_by("collected_at", "pk")
    temperatures = TemperatureReading.objects.filter(
        patient_id=patient.pk, taken_at__gte=now - clinical.FN_FEVER_LOOKBACK, taken_at__lte=now
    ).order_by("taken_at")
    gcsf = GcsfDose.objects.filter(
        patient_id=patient.pk, given_at__gte=day1 - clinical.GCSF_COUNTS_FROM_BEFORE_DAY1, given_at__lte=now
    )
    return alert_rules.CycleFacts(
        now=now,
        clinic_tz=timezone.get_current_timezone(),
        cycle_number=cycle.number,
        day1=day1,
        chemo_given=cycle.actual_day1 is not None,
        cycle_over=over,
        next_day1=next_cycle.day1 if next_cycle is not None else None,
        fn_risk=regimen.fn_risk,
        nadir_window_days=(regimen.nadir_window_start_day, regimen.nadir_window_end_day),
        next_cycle_anc_1e9_per_l=regimen.next_cycle_anc_1e9_per_l,
        gcsf_risk_factors=tuple(patient.gcsf_risk_factors(timezone.localdate(now))),
        counts=tuple(
            alert_rules.CountPoint(collected_at, anc, pk)
            for pk, collected_at, anc in counts.values_list("pk", "collected_at", "anc_1e9_per_l")
        ),
        temperatures=tuple(
            clinical.TemperaturePoint(taken_at, temperature_c)
            for taken_at, temperature_c in temperatures.values_list("taken_at", "temperature_c")
        ),
        gcsf_given_at=tuple(gcsf.values_list("given_at", flat=True)),
        forecast=_forecast_facts(forecast),
    )


def _forecast_facts(forecast: Forecast | None) -> alert_rules.ForecastFacts | None:
    from monitoring.selectors import from_local_iso

    if forecast is None or forecast.error:
        return None
    trajectory = tuple(
        alert_rules.TrajectoryPoint(from_local_iso(p["time"]), p["anc"], p["lo80"], p["hi80"])
        for p in forecast.trajectory
    )
    return alert_rules.ForecastFacts(
        nadir_anc_1e9_per_l=forecast.nadir_anc_1e9_per_l,
        nadir_lo80=forecast.nadir_lo80,
        nadir_hi80=forecast.nadir_hi80,
        nadir_at=forecast.nadir_at,
        p_grade4=forecast.p_grade4,
        p_ready=forecast.p_ready,
        trajectory=trajectory,
        next_fbc_on=forecast.next_fbc_on,
    )


# --- Who is told --------------------------------------------------------------------------


def notify_recipients(patient) -> list[User]:
    """Return the responsible nurse, or else the team's active nurses (else all its members)."""
    members = User.objects.filter(teams=patient.team_id, is_active=True).order_by("pk")
    if patient.responsible_nurse_id is not None:
        nurse = members.filter(pk=patient.responsible_nurse_id).first()
        if nurse is not None:
            return [nurse]
    nurses = [user for user in members if user.role == User.Role.NURSE]
    return nurses or list(members)


def _notifications(alerts: list[Alert], patient) -> list[Delivery]:
    config = settings.NEUTROWATCH
    people = notify_recipients(patient)
    webhook_url = patient.team.webhook_url
    rows = []
    for alert in alerts:
        rows += [Delivery(alert=alert, channel=Delivery.Channel.INAPP, recipient=p.username) for p in people]
        if alert.severity >= config["EMAIL_MIN_SEVERITY"]:
            emails = sorted({p.email for p in people if p.email})
            rows += [Delivery(alert=alert, channel=Delivery.Channel.EMAIL, recipient=e) for e in emails]
        if webhook_url and alert.severity >= config["WEBHOOK_MIN_SEVERITY"]:
            rows.append(Delivery(alert=alert, channel=Delivery.Channel.WEBHOOK, recipient=webhook_url))
    return rows


def _create_deliveries(rows: list[Delivery]) -> list[tuple[int, str]]:
    created = Delivery.objects.bulk_create(rows)
    return [(d.pk, d.channel) for d in created]


# --- Deliver ------------------------------------------------------------------------------


def dispatch(deliveries: list[tuple[int, str]]) -> None:
    """Send (delivery id, channel) pairs: in-app right here, the others through the worker."""
    from monitoring import tasks

    for delivery_id, channel in deliveries:
        if channel == Delivery.Channel.INAPP:
            deliver(delivery_id)
            continue
        try:
            tasks.deliver.apply_async((delivery_id, 0), **FAST_PUBLISH)
        except Exception:  # kombu's OperationalError and friends: the sweep re-dispatches it
            log.warning("broker unreachable: delivery %s left for the sweep", delivery_id)


@dataclass(frozen=True)
class Outcome:
    status: str  # a Delivery.Status value, or "skipped" when another worker has this attempt
    retry_in_seconds: float | None = None


def deliver(delivery_id: int, attempt: int = 0, now: datetime | None = None) -> Outcome:
    """Make attempt number `attempt + 1` of a delivery and record its outcome.

    The attempt is claimed by a conditional update on the attempt count: a duplicate task,
    or a redelivered one whose attempt already ran, changes nothing and sends nothing.
    """
    now = now or timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING], attempts=attempt
    ).update(attempts=attempt + 1, claimed_at=now)
    if not claimed:
        return Outcome("skipped")
    delivery = Delivery.objects.select_related("alert__patient__team", "alert__cycle").get(pk=delivery_id)
    if delivery.purpose == Delivery.Purpose.ESCALATE and delivery.alert.acknowledged_at is not None:
        return _record(delivery, Delivery.Status.FAILED, "not sent: the alert was acknowledged first")
    try:
        transport_for(delivery.channel)(delivery)
    except TransportError as error:
        return _record_failure(delivery, error)
    return _record(delivery, Delivery.Status.SENT, "", sent_at=timezone.now())


def _record_failure(delivery: Delivery, error: TransportError) -> Outcome:
    config = settings.NEUTROWATCH
    if error.permanent or delivery.attempts >= config["DELIVERY_MAX_ATTEMPTS"]:
        log.warning("delivery %s failed for good: %s", delivery.pk, error.message)
        return _record(delivery, Delivery.Status.FAILED, error.message)
    delay = min(config["DELIVERY_RETRY_BASE_SECONDS"] * 2 ** (delivery.attempts - 1),
                config["DELIVERY_RETRY_MAX_SECONDS"])
    outcome = _record(delivery, Delivery.Status.RETRYING, error.message, retry_in_seconds=delay)
    _schedule_retry(delivery.pk, delivery.attempts, delay)
    return outcome


def _record(delivery: Delivery, status: str, error: str, *, sent_at=None, retry_in_seconds=None) -> Outcome:
    # Only the claimant of this attempt may write its outcome.
    Delivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
        status=status, last_error=error[:2000], sent_at=sent_at
    )
    return Outcome(status, retry_in_seconds)


def _schedule_retry(delivery_id: int, attempt: int, delay: float) -> None:
    from monitoring import tasks

    try:
        tasks.deliver.apply_async((delivery_id, attempt), countdown=delay, **FAST_PUBLISH)
    except Exception:
        log.warning("broker unreachable: retry of delivery %s left for the sweep", delivery_id)


# --- Escalate -----------------------------------------------------------------------------


def escalate_due(now: datetime | None = None) -> int:
    """Escalate every critical alert left unacknowledged too long; return how many.

    Acknowledging (services.acknowledge_alert) stops escalation: an acknowledged alert is
    never claimed here, and an escalation not yet sent when it is acknowledged is dropped.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.NEUTROWATCH["ESCALATE_AFTER_MINUTES"])
    unattended = Q(acknowledged_at__isnull=True, resolved_at__isnull=True, escalated_at__isnull=True)
    due = Alert.objects.filter(unattended, severity=Alert.Severity.CRITICAL, raised_at__lte=cutoff)
    escalated = 0
    for alert_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            if not Alert.objects.filter(unattended, pk=alert_id).update(escalated_at=now):
                continue  # acknowledged, resolved or escalated by someone else meanwhile
            alert = Alert.objects.select_related("patient__team").get(pk=alert_id)
            deliveries = _create_deliveries(_escalations(alert))
            transaction.on_commit(lambda d=deliveries: dispatch(d))
            escalated += 1
    return escalated


def _escalations(alert: Alert) -> list[Delivery]:
    team = alert.patient.team
    rows = []
    if team.escalation_email:
        rows.append(Delivery(alert=alert, channel=Delivery.Channel.EMAIL, purpose=Delivery.Purpose.ESCALATE,
                             recipient=team.escalation_email))
    if team.webhook_url:
        rows.append(Delivery(alert=alert, channel=Delivery.Channel.WEBHOOK, purpose=Delivery.Purpose.ESCALATE,
                             recipient=team.webhook_url))
    if not rows:
        log.warning("alert %s is due for escalation but team %s has no escalation contact", alert.pk, team)
    return rows


# --- Sweep --------------------------------------------------------------------------------


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Re-run the rules whose answer changes with time alone, and re-send lost deliveries.

    Nadir windows open and close, G-CSF falls due on day 3, a fever ages out of its 24 hours,
    a cycle ends when the next one starts: none of that saves a result, so a beat job calls
    this every few minutes. Returns counts of what it did.
    """
    now = now or timezone.now()
    raised = sum(len(evaluate_alerts(cycle_id, now)) for cycle_id in cycles_to_sweep(now))
    return {"alerts_raised": raised, "deliveries_redispatched": redispatch_stuck(now)}


def cycles_to_sweep(now: datetime) -> list[int]:
    """Return the cycles under way (started in the last 60 days) and those with a live alert."""
    started = (
        Cycle.objects.filter(course__active=True, course__patient__active=True)
        .exclude(status=Cycle.Status.CANCELLED)
        .annotate(day1_at=Coalesce("actual_day1", "planned_day1"))
        .filter(day1_at__lte=now, day1_at__gte=now - SWEEP_CYCLE_LOOKBACK)
        .values_list("pk", flat=True)
    )
    alerted = Alert.objects.filter(resolved_at__isnull=True).values_list("cycle_id", flat=True)
    return sorted(set(started) | set(alerted))


def redispatch_stuck(now: datetime) -> int:
    """Re-enqueue deliveries whose task was lost (broker down, worker killed mid-send)."""
    stale = now - CLAIM_TIMEOUT
    stuck = Delivery.objects.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]).filter(
        Q(claimed_at__lt=stale) | Q(claimed_at__isnull=True, created_at__lt=stale)
    )
    rows = list(stuck.values_list("pk", "channel", "attempts"))
    from monitoring import tasks

    for delivery_id, channel, attempts in rows:
        if channel == Delivery.Channel.INAPP:
            deliver(delivery_id, attempts, now)
        else:
            tasks.deliver.apply_async((delivery_id, attempts), **FAST_PUBLISH)
    return len(rows)

"""Alert quality figures of the escalation chains and triage calls (issue 24 item 6), per team.

Per step of the chains (first round): how often it fired, time from the raise to its first
delivery sent, and the acknowledgements that came after it (the step that got an answer) with
the time from its delivery to the acknowledgement. Also escalations fired (steps after the first),
alerts that reached nobody on duty, and triage calls by outcome. Four queries per team.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Min

from monitoring.alerts.quality import Spread
from monitoring.models import AlertEscalation, Delivery, EscalationTimer, Team, TriageCall


@dataclass
class StepRow:
    step: int
    fired: int
    to_first_delivery: Spread
    answered: int
    delivery_to_ack: Spread


@dataclass
class DutyQuality:
    steps: list[StepRow] = field(default_factory=list)
    escalations_fired: int = 0
    reached_nobody: int = 0
    triage_by_outcome: list[tuple[str, int]] = field(default_factory=list)


def _minutes(later: datetime | None, earlier: datetime | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier).total_seconds() / 60


def duty_quality(team: Team, since: datetime, now: datetime) -> DutyQuality:
    """Return the team's chain and triage figures for alerts raised and calls taken since `since`."""
    timers = list(EscalationTimer.objects.filter(alert__patient__team=team, alert__raised_at__gte=since,
                                                 alert__raised_at__lte=now, fired_at__isnull=False)
                  .select_related("alert").order_by("alert_id", "round", "step"))
    first_sent = dict(Delivery.objects.filter(timer__in=timers, sent_at__isnull=False).values("timer_id")
                      .annotate(first=Min("sent_at")).values_list("timer_id", "first"))
    quality = DutyQuality(escalations_fired=sum(1 for t in timers if t.step or t.round))
    last_before_ack = {}
    for timer in timers:
        acked = timer.alert.acknowledged_at
        if acked is not None and timer.fired_at <= acked:
            last_before_ack[timer.alert_id] = timer  # timers are in order: the last one wins
    for step in sorted({t.step for t in timers if t.round == 0}):
        of_step = [t for t in timers if t.round == 0 and t.step == step]
        answered = [t for t in of_step if last_before_ack.get(t.alert_id) is t]
        quality.steps.append(StepRow(
            step=step, fired=len(of_step),
            to_first_delivery=Spread.of([m for t in of_step
                                         if (m := _minutes(first_sent.get(t.pk), t.alert.raised_at)) is not None]),
            answered=len(answered),
            delivery_to_ack=Spread.of([m for t in answered
                                       if (m := _minutes(t.alert.acknowledged_at, first_sent.get(t.pk))) is not None]),
        ))
    quality.reached_nobody = AlertEscalation.objects.filter(alert__patient__team=team, alert__raised_at__gte=since,
                                                            reached_nobody=True).count()
    counts = dict(TriageCall.objects.filter(patient__team=team, called_at__gte=since, called_at__lte=now)
                  .values("outcome").annotate(n=Count("pk")).values_list("outcome", "n"))
    quality.triage_by_outcome = [(label, counts.get(value, 0)) for value, label in TriageCall.Outcome.choices]
    return quality

"""Escalation chains: which chain an alert follows, its snapshot, and who each step tells.

A team has at most one chain per severity; an alert follows the chain of the highest severity at
or below its own (a "high" chain also covers critical alerts when there is no critical chain).
The steps are snapshotted on the alert when its chain starts, repeats expanded: a later edit of the
chain changes no running escalation. Who a step tells is decided when the step fires, from the
rota at that moment (a step due at 18:01 goes to the night shift).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from monitoring.duty import rota
from monitoring.models import Delivery, DutyContact, EscalationChain, Team, TeamDuty, User
from monitoring.models.duty import DutyRole, StepTarget

log = logging.getLogger(__name__)

ROLE_OF_TARGET = {StepTarget.ON_DUTY: DutyRole.NURSE, StepTarget.NEXT: DutyRole.NEXT,
                  StepTarget.REGISTRAR: DutyRole.REGISTRAR}


def chain_for(team_id: int, severity: int) -> EscalationChain | None:
    """Return the team's chain for an alert of `severity`: the highest chain severity at or below it."""
    return (EscalationChain.objects.filter(team_id=team_id, severity__lte=severity)
            .prefetch_related("steps").order_by("-severity").first())


def chains_for_teams(team_ids) -> dict[int, list[EscalationChain]]:
    """Return each team's chains, highest severity first, with their steps (two queries, one if none)."""
    by_team: dict[int, list[EscalationChain]] = {}
    for chain in EscalationChain.objects.filter(team_id__in=set(team_ids)).prefetch_related("steps").order_by(
            "-severity"):
        by_team.setdefault(chain.team_id, []).append(chain)
    return by_team


def pick(chains: list[EscalationChain], severity: int) -> EscalationChain | None:
    """Return the chain of the highest severity at or below `severity` among a team's chains."""
    return next((c for c in chains if c.severity <= severity), None)


def snapshot(chain: EscalationChain) -> list[dict]:
    """Return the chain's steps as [{after_minutes, target}] from the start, repeats expanded.

    Each step waits its `wait_minutes` after the previous one; a repeat starts
    `repeat_after_minutes` after the last step of the pass before.
    """
    steps = sorted(chain.steps.all(), key=lambda s: s.position)
    expanded, elapsed = [], 0
    for attempt in range(chain.repeat_times + 1):
        if attempt:
            elapsed += chain.repeat_after_minutes
        for index, step in enumerate(steps):
            elapsed += step.wait_minutes if (index or not attempt) else 0
            expanded.append({"after_minutes": elapsed, "target": step.target, "attempt": attempt})
    return expanded


@dataclass
class Recipients:
    """Who a step tells: people (in-app, email, SMS), or the fallback contact when nobody is on duty."""

    users: list[User] = field(default_factory=list)
    fallback_emails: list[str] = field(default_factory=list)
    fallback_phones: list[str] = field(default_factory=list)

    @property
    def nobody_on_duty(self) -> bool:
        return not self.users

    def names(self) -> list[str]:
        return [u.username for u in self.users] or [*self.fallback_emails, *self.fallback_phones]


def recipients(team: Team, target: str, at: datetime) -> Recipients:
    """Return who a step with `target` tells at `at`; the fallback contact if nobody is on duty."""
    if target == StepTarget.TEAM:
        users = list(User.objects.filter(is_active=True, teams=team).order_by("username"))
    else:
        role = ROLE_OF_TARGET[StepTarget(target)]
        users = [duty.user for duty in rota.on_duty(team, at) if duty.role == role]
    if users:
        return Recipients(users=users)
    duty = TeamDuty.objects.filter(team=team).first()
    email = (duty.fallback_email if duty else "") or team.escalation_email
    phone = duty.fallback_phone if duty else ""
    if not email and not phone:
        log.warning("nobody on duty for %s and no fallback contact: the step reaches in-app readers only", team)
    return Recipients(fallback_emails=[email] if email else [], fallback_phones=[phone] if phone else [])


def sms_enabled() -> bool:
    return bool(settings.NEUTROWATCH.get("SMS_GATEWAY_URL"))


def deliveries_for(who: Recipients, **fields) -> list[Delivery]:
    """Return the unsaved Delivery rows of one step: in-app, email and SMS per person told."""
    phones = dict(DutyContact.objects.filter(user__in=who.users).values_list("user_id", "mobile"))
    rows = []
    for user in who.users:
        rows.append(Delivery(channel=Delivery.Channel.INAPP, recipient=user.username, **fields))
        if user.email:
            rows.append(Delivery(channel=Delivery.Channel.EMAIL, recipient=user.email, **fields))
        if sms_enabled() and phones.get(user.pk):
            rows.append(Delivery(channel=Delivery.Channel.SMS, recipient=phones[user.pk], **fields))
    rows += [Delivery(channel=Delivery.Channel.EMAIL, recipient=email, **fields) for email in who.fallback_emails]
    if sms_enabled():
        rows += [Delivery(channel=Delivery.Channel.SMS, recipient=phone, **fields) for phone in who.fallback_phones]
    return rows


@dataclass(frozen=True)
class PlannedStep:
    after_minutes: int
    target: str
    notify: list[str]


def plan(team: Team, severity: int, at: datetime) -> list[PlannedStep]:
    """Return the steps an alert of `severity` raised at `at` would follow, and whom each would tell."""
    chain = chain_for(team.pk, severity)
    if chain is None:
        return []
    return [PlannedStep(step["after_minutes"], step["target"],
                        recipients(team, step["target"], at + timedelta(minutes=step["after_minutes"])).names())
            for step in snapshot(chain)]

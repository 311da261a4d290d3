"""Who is on duty for a team at a moment: weekly shift patterns plus one-off overrides.

A pattern is in the clinic's local time (settings.TIME_ZONE): "Monday 08:00-18:00" is 08:00 on
every Monday whatever the clock change; a shift whose end is at or before its start runs into the
next day (a night shift 18:00-08:00 started on Monday ends on Tuesday at 08:00). Handover is at
the boundary: at 18:00 exactly the night shift holds the phone (a shift is [start, end)).

An override puts someone on duty between two moments; with `replaces`, the person replaced is
off duty meanwhile (leave, a swap). `on_duty` answers in one query (patterns, overrides and
replacements are subqueries of one SELECT over the team's members).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Exists, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from monitoring.models import RotaOverride, ShiftPattern, Team, User
from monitoring.models.duty import DutyRole

# Order in which people on duty are listed (and told): the nurse first, then second call, registrar.
ROLE_ORDER = {DutyRole.NURSE: 0, DutyRole.NEXT: 1, DutyRole.REGISTRAR: 2}


@dataclass(frozen=True)
class Duty:
    """One person on duty: in which role, and until when (the end of their shift or override)."""

    user: User
    role: str
    until: datetime

    @property
    def role_label(self) -> str:
        return DutyRole(self.role).label


def clinic_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def patterns_covering(local: datetime) -> Q:
    """Return the condition for a pattern row that covers the local wall-clock moment `local`."""
    weekday, now, yesterday = local.weekday(), local.time(), (local.weekday() - 1) % 7
    same_day = Q(weekday=weekday, starts__lte=now) & (Q(ends__gt=now) | Q(ends__lte=F("starts")))
    from_yesterday = Q(weekday=yesterday, ends__lte=F("starts"), ends__gt=now)
    return same_day | from_yesterday


def on_duty(team: Team | int, at: datetime) -> list[Duty]:
    """Return who is on duty for `team` at `at` (nurse first), in one query."""
    team_id = team.pk if isinstance(team, Team) else team
    local = at.astimezone(clinic_tz())
    patterns = ShiftPattern.objects.filter(patterns_covering(local), team_id=team_id, user=OuterRef("pk"))
    covering = RotaOverride.objects.filter(team_id=team_id, user=OuterRef("pk"), starts_at__lte=at, ends_at__gt=at)
    replaced = RotaOverride.objects.filter(team_id=team_id, replaces=OuterRef("pk"), starts_at__lte=at, ends_at__gt=at)
    first = patterns.order_by("starts")
    rows = (
        User.objects.filter(is_active=True, teams=team_id)
        .filter((Exists(patterns) & ~Exists(replaced)) | Exists(covering))
        .annotate(
            override_role=Subquery(covering.values("role")[:1]),
            override_until=Subquery(covering.order_by("-ends_at").values("ends_at")[:1]),
            pattern_role=Subquery(first.values("role")[:1]),
            pattern_weekday=Coalesce(Subquery(first.values("weekday")[:1]), Value(-1), output_field=IntegerField()),
            pattern_starts=Subquery(first.values("starts")[:1]),
            pattern_ends=Subquery(first.values("ends")[:1]),
        )
    )
    duties = [_duty(user, local) for user in rows]
    return sorted(duties, key=lambda d: (ROLE_ORDER.get(d.role, 9), d.user.username))


def on_duty_until_off(team: Team | int, at: datetime) -> list[Duty]:
    """Return `on_duty`, each `until` carried over back-to-back shifts of the same person and role.

    For the pages: the registrar on 08:00-18:00 and then 18:00-08:00 is shown "until 08:00", the
    moment they go off duty. One query more than `on_duty` (the team's patterns of those people).
    """
    duties = on_duty(team, at)
    team_id = team.pk if isinstance(team, Team) else team
    starts = {(p.user_id, p.role, p.weekday, p.starts): p for p in ShiftPattern.objects.filter(
        team_id=team_id, user__in=[d.user for d in duties])}
    return [Duty(d.user, d.role, _carried(d, starts)) for d in duties]


def _carried(duty: Duty, starts: dict) -> datetime:
    until = duty.until
    for _ in range(14):  # a fortnight of back-to-back shifts is as far as "until" needs to look
        local = until.astimezone(clinic_tz())
        following = starts.get((duty.user.pk, duty.role, local.weekday(), local.time()))
        if following is None:
            break
        until = _pattern_end(local, following.weekday, following.starts, following.ends)
    return until


def _duty(user: User, local: datetime) -> Duty:
    if user.override_role is not None:
        return Duty(user, user.override_role, user.override_until)
    return Duty(user, user.pattern_role, _pattern_end(local, user.pattern_weekday, user.pattern_starts,
                                                      user.pattern_ends))


def _pattern_end(local: datetime, weekday: int, starts: time, ends: time) -> datetime:
    """Return when the pattern shift covering `local` ends (an aware datetime)."""
    started_on = local.date() if weekday == local.weekday() else local.date() - timedelta(days=1)
    ends_on = started_on + timedelta(days=1) if ends <= starts else started_on
    return at_local(ends_on, ends)


def at_local(day: date, clock: time) -> datetime:
    """Return the aware moment of local wall-clock `clock` on `day` (the first one in a clock change)."""
    return datetime.combine(day, clock, tzinfo=clinic_tz())


def next_shift_start(team: Team | int, after: datetime) -> datetime | None:
    """Return the first pattern handover-in strictly after `after` (within a week), or None."""
    team_id = team.pk if isinstance(team, Team) else team
    local = after.astimezone(clinic_tz())
    starts = set(ShiftPattern.objects.filter(team_id=team_id).values_list("weekday", "starts"))
    candidates = []
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        candidates += [at_local(day, clock) for weekday, clock in starts if weekday == day.weekday()]
    later = [moment for moment in candidates if moment > after]
    return min(later) if later else None


def week(team: Team | int) -> list[tuple[str, list[ShiftPattern]]]:
    """Return the team's patterns by weekday, for the rota page."""
    team_id = team.pk if isinstance(team, Team) else team
    patterns = list(ShiftPattern.objects.filter(team_id=team_id).select_related("user"))
    return [(label, [p for p in patterns if p.weekday == value]) for value, label in ShiftPattern.Weekday.choices]


def in_quiet_hours(quiet_start: time | None, quiet_end: time | None, at: datetime) -> bool:
    """Return True if local time at `at` falls in [quiet_start, quiet_end) (which may cross midnight)."""
    if quiet_start is None or quiet_end is None or quiet_start == quiet_end:
        return False
    clock = at.astimezone(clinic_tz()).time()
    if quiet_start < quiet_end:
        return quiet_start <= clock < quiet_end
    return clock >= quiet_start or clock < quiet_end

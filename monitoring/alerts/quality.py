"""Read path of the alert quality page: how each team's alerts were raised and answered.

Per team and period (the last 30 or 90 days): alerts per kind, the share acknowledged, time to
acknowledge per severity (median and 90th percentile), escalations, alerts per patient-week (the
alert burden) and, for febrile neutropenia, time to antibiotics against the 60-minute target.
Three queries whatever the number of alerts; the figures are computed here in Python.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitoring.alerts.presentation import FN_ANTIBIOTIC_TARGET_MINUTES, FN_KIND, kind_text
from monitoring.alerts.words import parse_moment
from monitoring.models import Alert, Team, TreatmentCourse

PERIOD_DAYS = (30, 90)


@dataclass
class Spread:
    """Median and 90th percentile of a list of minutes, and how many there were."""

    n: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, minutes: list[float]) -> Spread:
        if not minutes:
            return cls(0, None, None)
        ordered = sorted(minutes)
        # Nearest-rank 90th percentile: a value that happened, not an interpolation.
        return cls(len(ordered), statistics.median(ordered), ordered[math.ceil(0.9 * len(ordered)) - 1])


@dataclass
class KindRow:
    kind: str
    label: str
    raised: int
    acknowledged: int

    @property
    def share_acknowledged(self) -> float | None:
        return self.acknowledged / self.raised if self.raised else None


@dataclass
class TeamQuality:
    team: Team
    raised: int
    acknowledged: int
    escalated: int
    patient_weeks: float
    kinds: list[KindRow] = field(default_factory=list)
    ack_by_severity: list[tuple[str, Spread]] = field(default_factory=list)
    fn_alerts: int = 0
    fn_time_to_antibiotic: Spread = field(default_factory=lambda: Spread(0, None, None))
    fn_within_target: int = 0

    @property
    def share_acknowledged(self) -> float | None:
        return self.acknowledged / self.raised if self.raised else None

    @property
    def alerts_per_patient_week(self) -> float | None:
        return self.raised / self.patient_weeks if self.patient_weeks else None

    @property
    def fn_share_within_target(self) -> float | None:
        n = self.fn_time_to_antibiotic.n
        return self.fn_within_target / n if n else None


def alert_quality(user, days: int, now: datetime) -> list[TeamQuality]:
    """Return one TeamQuality per team of the user for the `days` before `now`."""
    since = now - timedelta(days=days)
    teams = list(user.teams.all())
    alerts = list(
        Alert.objects.filter(patient__team__in=teams, raised_at__gte=since, raised_at__lte=now)
        .select_related("patient").only(
            "kind", "severity", "raised_at", "acknowledged_at", "escalated_at", "antibiotics_given_at", "evidence",
            "patient__team_id", "superseded_by",
        )
    )
    courses = list(
        TreatmentCourse.objects.filter(patient__team__in=teams, patient__active=True)
        .values("patient_id", "patient__team_id", "started_on", "active")
    )
    return [_team_quality(team, [a for a in alerts if a.patient.team_id == team.pk],
                          _patient_weeks([c for c in courses if c["patient__team_id"] == team.pk], since, now))
            for team in teams]


def _patient_weeks(courses: list[dict], since: datetime, now: datetime) -> float:
    """Return patient-weeks on treatment in the period: each active course from its start (or the
    period's) to now, one per patient. Ended courses are left out: an approximation that can only
    overstate the alert burden, never hide it."""
    first_start: dict[int, object] = {}
    for course in courses:
        if course["active"]:
            start = course["started_on"]
            first_start[course["patient_id"]] = min(start, first_start.get(course["patient_id"], start))
    days = sum(max(0, (now.date() - max(start, since.date())).days) for start in first_start.values())
    return days / 7


def _team_quality(team: Team, alerts: list[Alert], patient_weeks: float) -> TeamQuality:
    quality = TeamQuality(
        team=team, raised=len(alerts), acknowledged=sum(a.acknowledged_at is not None for a in alerts),
        escalated=sum(a.escalated_at is not None for a in alerts), patient_weeks=patient_weeks,
    )
    kinds = sorted({a.kind for a in alerts}, key=lambda k: (kind_text(k).rank, k))
    for kind in kinds:
        of_kind = [a for a in alerts if a.kind == kind]
        quality.kinds.append(KindRow(kind, of_kind[0].get_kind_display(), len(of_kind),
                                     sum(a.acknowledged_at is not None for a in of_kind)))
    for severity in sorted(Alert.Severity, reverse=True):
        minutes = [(a.acknowledged_at - a.raised_at).total_seconds() / 60
                   for a in alerts if a.severity == severity and a.acknowledged_at is not None]
        quality.ack_by_severity.append((severity.label, Spread.of(minutes)))
    # One episode, one figure: an FN alert raised again because it worsened replaces the first (issue 21).
    fn = [a for a in alerts if a.kind == FN_KIND and a.superseded_by_id is None]
    quality.fn_alerts = len(fn)
    minutes = [m for m in (time_to_antibiotic_minutes(a) for a in fn) if m is not None]
    quality.fn_time_to_antibiotic = Spread.of(minutes)
    quality.fn_within_target = sum(m <= FN_ANTIBIOTIC_TARGET_MINUTES for m in minutes)
    return quality


def time_to_antibiotic_minutes(alert: Alert) -> float | None:
    """Return minutes from the fever that raised the alert (or the alert, if unknown) to antibiotics."""
    if alert.antibiotics_given_at is None:
        return None
    fever_at = (alert.evidence or {}).get("taken_at")
    try:
        start = parse_moment(fever_at) if fever_at else alert.raised_at
    except ValueError:
        start = alert.raised_at
    return max(0.0, (alert.antibiotics_given_at - start).total_seconds() / 60)

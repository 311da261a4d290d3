"""The ward overview: one row per active patient, most urgent first, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.db.models import OuterRef, Prefetch, Q, Subquery

from monitoring.alerts.presentation import FN_KIND, alert_order
from monitoring.models import Alert, CountResult, Cycle, Forecast, Patient, Regimen, TreatmentCourse
from monitoring.models.care import current_cycle_of
from monitoring.selectors.freshness import forecast_state

# Each page's data comes from one function in this package
# Each page's data comes from one function here, in a fixed number of queries however many
# patients, cycles or counts there are (the dashboard tests count them).

# Ranking thresholds for the ward overview: they order the list and pick the risk filter; they
# decide nothing clinical (the alert rules in clinical.py do). P(grade 4) is the forecast's.
RISK_HIGH_P_GRADE4 = 0.5
RISK_MEDIUM_P_GRADE4 = 0.2
RISK_MEDIUM_P_GRADE3PLUS = 0.5
RISK_LEVELS = {"high": 3, "medium": 2, "low": 1}
# The ward's trend arrow: a change of less than this share of the previous count reads as steady.
# Display only (counts vary by ~10 % between labs and draws); it decides nothing clinical.
TREND_STEADY_FRACTION = 0.10


@dataclass
class WardRow:
    """One active patient on the ward overview, with what makes them urgent."""

    patient: Patient
    regimen: Regimen | None
    cycle: Cycle | None
    cycle_day: int | None
    last_count: CountResult | None
    days_since_count: int | None
    forecast: Forecast | None
    open_alerts: int
    max_severity: int | None
    risk: str
    reasons: list[str] = field(default_factory=list)
    top_alert: Alert | None = None  # the most urgent live alert, in hand or not (febrile neutropenia first)
    previous_count: CountResult | None = None
    in_hand: int = 0  # live alerts acknowledged while their condition lasts (issue 21)

    @property
    def max_severity_label(self) -> str:
        return Alert.Severity(self.max_severity).label if self.max_severity else ""

    @property
    def has_fn_alert(self) -> bool:
        """Return True in an ongoing febrile-neutropenia episode, acknowledged ("in hand") or not."""
        top = self.top_alert
        return top is not None and top.kind == FN_KIND and top.cleared_at is None

    @cached_property  # the ward template asks up to six times a row
    def trend(self) -> str:
        """Return "rising", "falling" or "steady" from the last two counts, or "" with fewer."""
        if self.last_count is None or self.previous_count is None:
            return ""
        before, now = float(self.previous_count.anc_1e9_per_l), float(self.last_count.anc_1e9_per_l)
        if abs(now - before) <= TREND_STEADY_FRACTION * max(before, 0.1):
            return "steady"
        return "rising" if now > before else "falling"

    @property
    def predicted_nadir_day(self) -> int | None:
        """Return the day of cycle of the predicted nadir (the same calendar days as `cycle_day`)."""
        if self.forecast is None or self.forecast.nadir_at is None or self.cycle is None:
            return None
        return self.cycle.cycle_day(self.forecast.nadir_at)

    @cached_property
    def forecast_state(self) -> str:
        """Return "stale" if results came in after the stored forecast was made, "pending" if the
        cycle has inputs but no forecast yet (both await the worker), else ""."""
        return forecast_state(self.cycle, getattr(self.cycle, "forecast", None) if self.cycle else None)


@dataclass(frozen=True)
class WardFilters:
    team_id: int | None = None
    risk: str = ""
    only_open_alerts: bool = False
    search: str = ""


# The columns the ward shows or ranks by. Loading only these keeps the 300-patient page from
# decoding thousands of unused timestamps, JSON and text fields (a deferred field read later
# would cost a query per row: the dashboard tests count them).
WARD_PATIENT_FIELDS = ("mrn", "given_name", "family_name", "team__name")
WARD_COURSE_FIELDS = ("patient", "regimen__name", "regimen__cycle_length_days", "active")
WARD_CYCLE_FIELDS = ("course", "number", "planned_day1", "actual_day1", "status", "input_version")
WARD_FORECAST_FIELDS = (
    "input_version", "error", "nadir_anc_1e9_per_l", "nadir_at", "p_grade4", "p_grade3plus",
    "next_day1", "p_ready", "ready_threshold_1e9_per_l", "next_fbc_on",
)
WARD_COUNT_FIELDS = ("patient", "collected_at", "anc_1e9_per_l", "qualifier", "ctcae_grade")


def ward_rows(user, filters: WardFilters, now: datetime) -> list[WardRow]:
    """Return the active patients of the user's teams, most urgent first (5 queries)."""
    patients = Patient.objects.visible_to(user).filter(active=True).select_related("team").only(*WARD_PATIENT_FIELDS)
    if filters.team_id:
        patients = patients.filter(team_id=filters.team_id)
    if filters.search:
        text = filters.search.strip()
        patients = patients.filter(
            Q(mrn__icontains=text) | Q(family_name__icontains=text) | Q(given_name__icontains=text)
        )
    # The ward shows the forecast's numbers, not its trajectory: leave the JSON in the database.
    cycles = (
        Cycle.objects.exclude(status=Cycle.Status.CANCELLED)
        .select_related("forecast")
        .only(*WARD_CYCLE_FIELDS, *(f"forecast__{name}" for name in WARD_FORECAST_FIELDS))
        .order_by("course_id", "number")  # Meta's ("course", "number") joins the courses to sort by their start
    )
    # Lists (to_attr), not managers: `course.cycles.all()` would build a queryset per patient.
    courses = (
        TreatmentCourse.objects.filter(active=True)
        .select_related("regimen")
        .only(*WARD_COURSE_FIELDS)
        .prefetch_related(Prefetch("cycles", queryset=cycles, to_attr="ward_cycles"))
    )
    patients = list(patients.prefetch_related(Prefetch("courses", queryset=courses, to_attr="active_courses")))
    ids = [p.pk for p in patients]
    # The latest count per patient, portable to SQLite and PostgreSQL (no DISTINCT ON).
    latest = CountResult.objects.filter(patient_id=OuterRef("patient_id")).order_by("-collected_at", "-id")
    last_two = CountResult.objects.filter(patient_id__in=ids).filter(
        Q(id=Subquery(latest.values("id")[:1])) | Q(id=Subquery(latest.values("id")[1:2]))
    ).order_by("patient_id", "-collected_at", "-id").only(*WARD_COUNT_FIELDS)
    last_counts: dict[int, list[CountResult]] = {}
    for count in last_two:
        last_counts.setdefault(count.patient_id, []).append(count)
    # Every live alert, acknowledged or not: acknowledged is not resolved (issue 21).
    live_alerts: dict[int, list[Alert]] = {}
    for alert in Alert.objects.filter(patient_id__in=ids, resolved_at__isnull=True).select_related("acknowledged_by"):
        live_alerts.setdefault(alert.patient_id, []).append(alert)
    rows = [_ward_row(p, last_counts.get(p.pk, []), sorted(live_alerts.get(p.pk, []), key=alert_order), now)
            for p in patients]
    if filters.risk in RISK_LEVELS:
        rows = [r for r in rows if r.risk == filters.risk]
    if filters.only_open_alerts:
        rows = [r for r in rows if r.open_alerts or r.in_hand]
    rows.sort(key=_urgency, reverse=True)
    return rows


def _ward_row(patient: Patient, counts: list[CountResult], alerts: list[Alert], now: datetime) -> WardRow:
    last_count = counts[0] if counts else None
    course = patient.active_courses[0] if patient.active_courses else None
    regimen = course.regimen if course else None
    cycle = current_cycle_of(course.ward_cycles, now) if course else None
    forecast = getattr(cycle, "forecast", None) if cycle is not None else None
    row = WardRow(
        patient=patient,
        regimen=regimen,
        cycle=cycle,
        cycle_day=cycle.cycle_day(now) if cycle is not None else None,
        last_count=last_count,
        days_since_count=(now - last_count.collected_at).days if last_count else None,
        forecast=forecast if forecast is not None and not forecast.error else None,
        open_alerts=sum(1 for a in alerts if a.acknowledged_at is None),
        # In hand is still the patient's condition: the risk and the order keep it.
        max_severity=max((a.severity for a in alerts if a.cleared_at is None or a.acknowledged_at is None),
                         default=None),
        risk="low",
        top_alert=alerts[0] if alerts else None,
        previous_count=counts[1] if len(counts) > 1 else None,
        in_hand=sum(1 for a in alerts if a.acknowledged_at is not None),
    )
    row.risk, row.reasons = _risk(row)
    return row


def _risk(row: WardRow) -> tuple[str, list[str]]:
    """Return the risk level and the reasons for it, in words."""
    high, medium = [], []
    if row.max_severity:
        # "open alert (low severity)", not "low alert open": the risk badge beside it says "Medium".
        words = [f"{row.open_alerts} open alert{'s' if row.open_alerts > 1 else ''}"] if row.open_alerts else []
        words += [f"{row.in_hand} in hand"] if row.in_hand else []
        (high if row.max_severity >= Alert.Severity.HIGH else medium).append(
            f"{', '.join(words)} (highest: {row.max_severity_label.lower()})"
        )
    count = row.last_count
    in_this_cycle = count is not None and (row.cycle is None or count.collected_at >= row.cycle.day1)
    if in_this_cycle and count.ctcae_grade >= 3:
        (high if count.ctcae_grade == 4 else medium).append(f"last ANC grade {count.ctcae_grade}")
    forecast = row.forecast
    if forecast is not None and forecast.p_grade4 is not None:
        if forecast.p_grade4 >= RISK_HIGH_P_GRADE4:
            high.append(f"P(grade 4) {forecast.p_grade4:.0%}")
        elif forecast.p_grade4 >= RISK_MEDIUM_P_GRADE4 or (forecast.p_grade3plus or 0) >= RISK_MEDIUM_P_GRADE3PLUS:
            medium.append(f"P(grade 4) {forecast.p_grade4:.0%}, P(grade >= 3) {forecast.p_grade3plus or 0:.0%}")
    if high:
        return "high", high + medium
    return ("medium", medium) if medium else ("low", [])


def _urgency(row: WardRow) -> tuple:
    p_grade4 = row.forecast.p_grade4 if row.forecast is not None and row.forecast.p_grade4 is not None else -1
    last_grade = row.last_count.ctcae_grade if row.last_count else -1
    # Ties by name, A first (the sort is reversed, hence the negated code points).
    name = tuple(-ord(ch) for ch in f"{row.patient.family_name} {row.patient.given_name}".lower())
    # Febrile neutropenia comes first whatever else: antibiotics are due within the hour.
    return (row.has_fn_alert, RISK_LEVELS[row.risk], row.max_severity or 0, p_grade4, last_grade, name)


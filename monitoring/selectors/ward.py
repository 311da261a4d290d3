"""The ward overview: one row per active patient, most urgent first, in a fixed number of queries.

The ward is the page twenty nurses keep open while results arrive, so it is read straight from the
tables and read cheaply: rows come back as plain tuples, not model instances, and only the current
cycle of each course and its forecast become objects. Each row carries the words and numbers its
template prints, ready made (selectors/ward_text.py), so rendering 300 rows is a matter of joining
strings (bench/pages.py, docs/benchmarks.md). The page draws them at most once a second for everyone
who sees the same teams, never older than the viewer's own change (views/ward_cache.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property

from django.db.models import OuterRef, Q, Subquery
from django.urls import reverse

from monitoring import clinical
from monitoring.alerts.presentation import FN_KIND, alert_order
from monitoring.alerts.words import since
from monitoring.models import Alert, CountResult, Cycle, Patient, TreatmentCourse
from monitoring.models.care import current_cycle_of
from monitoring.selectors.freshness import forecast_state
from monitoring.selectors.ward_text import WardWords

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


@dataclass(slots=True)
class WardPatient:
    """The patient columns the ward shows (not a model instance: 300 of those cost more than the rest)."""

    pk: int
    mrn: str
    given_name: str
    family_name: str
    team_name: str
    team_id: int

    def get_absolute_url(self) -> str:
        return _patient_url(self.pk)


@dataclass(slots=True)
class WardCount:
    """A count as the ward shows it: value as received, grade, when."""

    collected_at: datetime
    anc_1e9_per_l: Decimal
    qualifier: str
    ctcae_grade: int

    @property
    def grade_label(self) -> str:
        return clinical.GRADE_LABELS[self.ctcae_grade]

    @property
    def anc_plain(self) -> str:
        """Return the ANC without trailing zeros or exponent (0.400 -> "0.4"), as `|plain` does."""
        return f"{self.anc_1e9_per_l.normalize():f}"


@dataclass
class WardRow:
    """One active patient on the ward overview, with what makes them urgent."""

    patient: WardPatient
    regimen: WardRegimen | None
    cycle: WardCycle | None
    cycle_day: int | None
    last_count: WardCount | None
    days_since_count: int | None
    forecast: WardForecast | None
    open_alerts: int
    max_severity: int | None
    risk: str
    reasons: list[str] = field(default_factory=list)
    top_alert: Alert | None = None  # the most urgent live alert, in hand or not (febrile neutropenia first)
    previous_count: WardCount | None = None
    in_hand: int = 0  # live alerts acknowledged while their condition lasts (issue 21)
    stored_forecast: WardForecast | None = None  # the cycle's stored forecast, even one that failed
    since_count: str = ""
    # Any live febrile-neutropenia alert, ongoing, in hand or cleared but not seen: the next cycle waits
    # for the oncologist's review, as the patient page's header says (templatetags readiness).
    after_fn: bool = False

    @property
    def max_severity_label(self) -> str:
        return Alert.Severity(self.max_severity).label if self.max_severity else ""

    @property
    def has_alerts(self) -> bool:
        """Return True with any live alert, open or in hand (the ward's "open alerts" filter)."""
        return bool(self.open_alerts or self.in_hand)

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
        return forecast_state(self.cycle, self.stored_forecast)

    @cached_property
    def words(self) -> WardWords:
        """Return what the row's cells print, formatted once (the template only places it)."""
        return WardWords.of(self)


@dataclass(frozen=True)
class WardFilters:
    team_id: int | None = None
    risk: str = ""
    only_open_alerts: bool = False
    search: str = ""


# The columns the ward shows or ranks by, read as tuples (a model instance per row costs more than
# the query: the dashboard tests count the queries, bench/pages.py times them).
WARD_PATIENT_COLUMNS = ("pk", "mrn", "given_name", "family_name", "team__name", "team_id")
WARD_COURSE_COLUMNS = ("pk", "patient_id", "regimen__name", "regimen__cycle_length_days")
WARD_CYCLE_COLUMNS = ("pk", "course_id", "number", "planned_day1", "actual_day1", "status", "input_version")
WARD_FORECAST_FIELDS = (
    "input_version", "error", "nadir_anc_1e9_per_l", "nadir_at", "p_grade4", "p_grade3plus",
    "next_day1", "p_ready", "ready_threshold_1e9_per_l", "next_fbc_on",
)
WARD_COUNT_COLUMNS = ("patient_id", "collected_at", "anc_1e9_per_l", "qualifier", "ctcae_grade")


def ward_rows(user, filters: WardFilters, now: datetime) -> list[WardRow]:
    """Return the active patients of the user's teams, most urgent first (5 queries)."""
    patients = Patient.objects.visible_to(user).filter(active=True)
    if filters.team_id:
        patients = patients.filter(team_id=filters.team_id)
    if filters.search:
        text = filters.search.strip()
        patients = patients.filter(
            Q(mrn__icontains=text) | Q(family_name__icontains=text) | Q(given_name__icontains=text)
        )
    patients = [WardPatient(*values) for values in patients.order_by(*Patient._meta.ordering)
                .values_list(*WARD_PATIENT_COLUMNS)]
    ids = [p.pk for p in patients]
    courses = _active_courses(ids)
    current = _current_cycles(courses, now)
    last_counts = _last_two_counts(ids)
    # Every live alert, acknowledged or not: acknowledged is not resolved (issue 21).
    live_alerts: dict[int, list[Alert]] = {}
    for alert in Alert.objects.filter(patient_id__in=ids, resolved_at__isnull=True).select_related("acknowledged_by"):
        live_alerts.setdefault(alert.patient_id, []).append(alert)
    rows = []
    for patient in patients:
        course = courses.get(patient.pk)
        rows.append(_ward_row(patient, course, current.get(course.pk) if course else None,
                              last_counts.get(patient.pk, []), sorted(live_alerts.get(patient.pk, []), key=alert_order),
                              now))
    rows = [r for r in rows if shown(filters, r.patient.team_id, r.risk, r.has_alerts)]
    rows.sort(key=_urgency, reverse=True)
    return rows


def shown(filters: WardFilters, team_id: int, risk: str, has_alerts: bool) -> bool:
    """Return whether a row of this team, risk and alerts passes the team, risk and open-alerts filters.

    The search is not here: it is a query (`ward_rows`). The shared rows (views/ward_cache.py) filter
    the whole ward with this, so a filtered ward is the same rows as the unfiltered one.
    """
    return ((not filters.team_id or team_id == filters.team_id)
            and (filters.risk not in RISK_LEVELS or risk == filters.risk)
            and (not filters.only_open_alerts or has_alerts))


@dataclass(slots=True)
class WardRegimen:
    name: str
    cycle_length_days: int


@dataclass(slots=True)
class WardCourse:
    """A patient's active course as the ward needs it (`current_cycle_of` reads `active` and the regimen)."""

    pk: int
    regimen: WardRegimen
    active: bool = True


@dataclass(slots=True)
class WardForecast:
    """A cycle's stored forecast: the numbers the ward shows, not its trajectory (WARD_FORECAST_FIELDS)."""

    input_version: int
    error: str
    nadir_anc_1e9_per_l: float | None
    nadir_at: datetime | None
    p_grade4: float | None
    p_grade3plus: float | None
    next_day1: datetime | None
    p_ready: float | None
    ready_threshold_1e9_per_l: float | None
    next_fbc_on: date | None


@dataclass(slots=True)
class WardCycle:
    """A cycle with what `current_cycle_of`, the day of cycle and the freshness rule read (models.Cycle's names)."""

    pk: int
    course_id: int
    number: int
    planned_day1: datetime
    actual_day1: datetime | None
    status: str
    input_version: int
    course: WardCourse
    forecast: WardForecast | None = None

    day1 = Cycle.day1
    planned_next_day1 = Cycle.planned_next_day1
    cycle_day = Cycle.cycle_day


def _active_courses(patient_ids: list[int]) -> dict[int, WardCourse]:
    """Return each patient's active course (the latest started), with its regimen's name and cycle length."""
    courses: dict[int, WardCourse] = {}
    values = (TreatmentCourse.objects.filter(active=True, patient_id__in=patient_ids)
              .order_by(*TreatmentCourse._meta.ordering, "pk").values_list(*WARD_COURSE_COLUMNS))
    for pk, patient_id, name, cycle_length_days in values:
        if patient_id not in courses:
            courses[patient_id] = WardCourse(pk, WardRegimen(name, cycle_length_days))
    return courses


def _current_cycles(courses: dict[int, WardCourse], now: datetime) -> dict[int, WardCycle]:
    """Return {course id: its current cycle, its stored forecast attached} in one query.

    The cycles come back as tuples; per course only the two that can be current (the last given
    and the first one waiting after it) become objects, and `current_cycle_of`, the one definition
    of the current cycle, chooses between them.
    """
    by_course = {course.pk: course for course in courses.values()}
    forecast_columns = tuple(f"forecast__{name}" for name in WARD_FORECAST_FIELDS)
    values = (Cycle.objects.filter(course_id__in=list(by_course)).exclude(status=Cycle.Status.CANCELLED)
              .order_by("course_id", "number").values_list(*WARD_CYCLE_COLUMNS, "forecast__pk", *forecast_columns))
    candidates: dict[int, list[tuple]] = {}
    for value in values:
        candidates.setdefault(value[1], []).append(value)
    current = {}
    for course_id, cycles in candidates.items():
        chosen = current_cycle_of([_cycle(v, by_course[course_id]) for v in _could_be_current(cycles, now)], now)
        if chosen is not None:
            current[course_id] = chosen
    return current


def _could_be_current(cycles: list[tuple], now: datetime) -> list[tuple]:
    """Return the last given cycle and the first not given after it: the only ones `current_cycle_of` picks."""
    planned, actual = 3, 4  # indexes of planned_day1 and actual_day1 in WARD_CYCLE_COLUMNS

    def start(value: tuple) -> datetime:
        return value[actual] or value[planned]

    given = [v for v in cycles if v[actual] is not None and v[actual] <= now]
    last_given = max(given, key=start) if given else None
    waiting = [v for v in cycles if v[actual] is None and (last_given is None or start(v) > start(last_given))]
    next_up = min(waiting, key=start) if waiting else None
    return [v for v in (last_given, next_up) if v is not None]


def _cycle(value: tuple, course: WardCourse) -> WardCycle:
    n = len(WARD_CYCLE_COLUMNS)
    forecast = WardForecast(*value[n + 1:]) if value[n] is not None else None
    return WardCycle(*value[:n], course=course, forecast=forecast)


def _last_two_counts(patient_ids: list[int]) -> dict[int, list[WardCount]]:
    """Return each patient's latest two counts, newest first (portable to SQLite: no DISTINCT ON)."""
    latest = CountResult.objects.filter(patient_id=OuterRef("patient_id")).order_by("-collected_at", "-id")
    values = CountResult.objects.filter(patient_id__in=patient_ids).filter(
        Q(id=Subquery(latest.values("id")[:1])) | Q(id=Subquery(latest.values("id")[1:2]))
    ).order_by("patient_id", "-collected_at", "-id").values_list(*WARD_COUNT_COLUMNS)
    counts: dict[int, list[WardCount]] = {}
    for patient_id, *columns in values:
        counts.setdefault(patient_id, []).append(WardCount(*columns))
    return counts


def _ward_row(patient: WardPatient, course: WardCourse | None, cycle: WardCycle | None, counts: list[WardCount],
              alerts: list[Alert], now: datetime) -> WardRow:
    last_count = counts[0] if counts else None
    forecast = getattr(cycle, "forecast", None) if cycle is not None else None
    row = WardRow(
        patient=patient,
        regimen=course.regimen if course else None,
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
        stored_forecast=forecast,
        since_count=since(last_count.collected_at, now) if last_count else "",
        after_fn=any(a.kind == FN_KIND for a in alerts),
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


def _patient_url(pk: int) -> str:
    return reverse("patient", args=[pk])

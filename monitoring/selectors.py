"""Read paths: what the forecast engine, pages and charts are given.

Queries live here, not in views or chart code, so there is one place to keep the
number of queries fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring import clinical
from monitoring.alerts.presentation import FN_KIND, alert_order
from monitoring.models import (
    Alert,
    ChemoAdministration,
    CountResult,
    Cycle,
    Delivery,
    Forecast,
    GcsfDose,
    Patient,
    Regimen,
    TemperatureReading,
    TreatmentCourse,
)
from monitoring.models.care import current_cycle_of


def _local_iso(moment: datetime) -> str:
    """Return a clinic-local ISO time without zone, as the forecast engine takes it."""
    return timezone.localtime(moment).replace(tzinfo=None).isoformat(timespec="minutes")


def from_local_iso(text: str) -> datetime:
    """Return an aware datetime from the engine's clinic-local ISO time."""
    return timezone.make_aware(datetime.fromisoformat(text))


def forecast_history(cycle: Cycle, as_of: datetime) -> dict:
    """Return the engine's input for `cycle` from everything known at `as_of`.

    It holds every chemotherapy administration of the course given by `as_of`, the
    cycle's own day-1 dose (planned if not yet given: the forecast answers "if given as
    planned"), its later planned chemo days, and every G-CSF dose and count of the patient.
    """
    regimen = cycle.course.regimen
    patient_id = cycle.course.patient_id
    administrations = list(
        ChemoAdministration.objects.filter(cycle__course=cycle.course, given_at__lte=as_of)
        .exclude(cycle__number__gt=cycle.number)
        .order_by("given_at")
    )
    doses = [{"time": _local_iso(a.given_at), "dose_fraction": float(a.dose_fraction)} for a in administrations]
    recorded_days = {a.day_of_cycle for a in administrations if a.cycle_id == cycle.pk}
    for day in regimen.chemo_days or [1]:
        if day not in recorded_days:
            planned = cycle.day1 + timedelta(days=day - 1)
            doses.append({"time": _local_iso(planned), "dose_fraction": 1.0})
    doses.sort(key=lambda d: d["time"])
    gcsf = [
        {"time": _local_iso(g.given_at), "product": g.product}
        for g in GcsfDose.objects.filter(patient_id=patient_id, given_at__lte=as_of).order_by("given_at")
    ]
    counts = [
        {"time": _local_iso(c.collected_at), "anc": float(c.anc_1e9_per_l), "unit": "10^9/L"}
        for c in CountResult.objects.filter(patient_id=patient_id, collected_at__lte=as_of).order_by("collected_at")
    ]
    return {
        "id": f"cycle-{cycle.pk}",
        "regimen": {
            "code": regimen.code,
            "name": regimen.name,
            "cycle_length_days": regimen.cycle_length_days,
            "fn_risk": regimen.fn_risk,
            "chemo_days": list(regimen.chemo_days or [1]),
            "next_cycle_anc": float(regimen.next_cycle_anc_1e9_per_l),
        },
        "doses": doses,
        "gcsf": gcsf,
        "counts": counts,
        "forecast_cycle_start": _local_iso(cycle.day1),
        "as_of": _local_iso(as_of),
    }


def learning_cycles(regimen: Regimen, now: datetime) -> list[Cycle]:
    """Return, for every course on `regimen`, its latest cycle started by `now` (for prior learning)."""
    cycles = (
        Cycle.objects.filter(course__regimen=regimen)
        .exclude(status=Cycle.Status.CANCELLED)
        .select_related("course__regimen")
        .order_by("course_id", "number")
    )
    latest: dict[int, Cycle] = {}
    for cycle in cycles:
        if cycle.day1 <= now:
            latest[cycle.course_id] = cycle
    return list(latest.values())


def stale_cycle_ids(limit: int = 1000) -> list[int]:
    """Return cycles whose forecast is missing or older than their inputs, oldest first."""
    from django.db.models import F, Q

    return list(
        Cycle.objects.filter(course__active=True, course__patient__active=True)
        .exclude(status=Cycle.Status.CANCELLED)
        .filter(Q(forecast__isnull=True, input_version__gt=0) | Q(forecast__input_version__lt=F("input_version")))
        .order_by("planned_day1")
        .values_list("pk", flat=True)[:limit]
    )


# --- Pages: ward overview, patient page, alert inbox, cycle-summary export ---------------------
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
    top_alert: Alert | None = None  # the most urgent open alert (febrile neutropenia first)
    previous_count: CountResult | None = None

    @property
    def max_severity_label(self) -> str:
        return Alert.Severity(self.max_severity).label if self.max_severity else ""

    @property
    def has_fn_alert(self) -> bool:
        return self.top_alert is not None and self.top_alert.kind == FN_KIND

    @cached_property  # the ward template asks up to six times a row
    def trend(self) -> str:
        """Return "rising", "falling" or "steady" from the last two counts, or "" with fewer."""
        if self.last_count is None or self.previous_count is None:
            return ""
        before, now = float(self.previous_count.anc_1e9_per_l), float(self.last_count.anc_1e9_per_l)
        if abs(now - before) <= TREND_STEADY_FRACTION * max(before, 0.1):
            return "steady"
        return "rising" if now > before else "falling"

    @cached_property
    def forecast_state(self) -> str:
        """Return "stale" if results came in after the stored forecast was made, "pending" if the
        cycle has inputs but no forecast yet (both await the worker), else ""."""
        if self.cycle is None:
            return ""
        stored = getattr(self.cycle, "forecast", None)
        if stored is None:
            return "pending" if self.cycle.input_version > 0 else ""
        return "stale" if stored.input_version < self.cycle.input_version else ""


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
    "input_version", "error", "nadir_anc_1e9_per_l", "nadir_at", "nadir_day_of_cycle", "p_grade4", "p_grade3plus",
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
    open_alerts: dict[int, list[Alert]] = {}
    for alert in Alert.objects.filter(patient_id__in=ids, resolved_at__isnull=True, acknowledged_at__isnull=True):
        open_alerts.setdefault(alert.patient_id, []).append(alert)
    rows = [_ward_row(p, last_counts.get(p.pk, []), sorted(open_alerts.get(p.pk, []), key=alert_order), now)
            for p in patients]
    if filters.risk in RISK_LEVELS:
        rows = [r for r in rows if r.risk == filters.risk]
    if filters.only_open_alerts:
        rows = [r for r in rows if r.open_alerts]
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
        cycle_day=int(cycle.cycle_day(now)) if cycle is not None else None,
        last_count=last_count,
        days_since_count=(now - last_count.collected_at).days if last_count else None,
        forecast=forecast if forecast is not None and not forecast.error else None,
        open_alerts=len(alerts),
        max_severity=max((a.severity for a in alerts), default=None),
        risk="low",
        top_alert=alerts[0] if alerts else None,
        previous_count=counts[1] if len(counts) > 1 else None,
    )
    row.risk, row.reasons = _risk(row)
    return row


def _risk(row: WardRow) -> tuple[str, list[str]]:
    """Return the risk level and the reasons for it, in words."""
    high, medium = [], []
    if row.max_severity:
        # "open alert (low severity)", not "low alert open": the risk badge beside it says "Medium".
        plural = "s" if row.open_alerts > 1 else ""
        (high if row.max_severity >= Alert.Severity.HIGH else medium).append(
            f"{row.open_alerts} open alert{plural} (highest: {row.max_severity_label.lower()})"
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


@dataclass
class CycleData:
    """One cycle with the inputs that fall in it: what a cycle chart and a summary row show."""

    cycle: Cycle
    regimen: Regimen
    start: datetime
    end: datetime | None  # the next cycle's day 1; None for the last one
    administrations: list[ChemoAdministration]
    counts: list[CountResult]
    gcsf: list[GcsfDose]
    temperatures: list[TemperatureReading]
    forecast: Forecast | None
    is_current: bool = False
    # The pre-dose count (the last one in the 72 h before day 1): this cycle's baseline, charted at
    # its start rather than as day 21.9 of the cycle before.
    baseline: list[CountResult] = field(default_factory=list)
    next_baseline: list[CountResult] = field(default_factory=list)

    @property
    def charted_counts(self) -> list[CountResult]:
        """Return the baseline and the counts of the cycle, without the next cycle's baseline."""
        moved = {c.pk for c in self.next_baseline}
        return self.baseline + [c for c in self.counts if c.pk not in moved]

    @property
    def started(self) -> bool:
        return self.cycle.status == Cycle.Status.GIVEN or bool(self.administrations)

    @property
    def observed_nadir(self) -> CountResult | None:
        after_dose = [c for c in self.counts if c.collected_at >= self.start]
        return min(after_dose, key=lambda c: (c.anc_1e9_per_l, c.collected_at)) if after_dose else None

    @property
    def worst_grade(self) -> int | None:
        return max((c.ctcae_grade for c in self.counts), default=None)

    @property
    def fever_episodes(self) -> list[TemperatureReading]:
        """Return the reading that made each fever episode (IDSA 2010 definition)."""
        episodes, run = [], []
        for reading in self.temperatures + [None]:
            if reading is not None and reading.temperature_c >= clinical.FEVER_SUSTAINED_C:
                run.append(reading)
                continue
            points = [clinical.TemperaturePoint(r.taken_at, r.temperature_c) for r in run]
            hit = clinical.fever_episode(points)
            if hit is not None:
                episodes.append(next(r for r in run if r.taken_at == hit.taken_at))
            run = []
        return episodes


@dataclass
class PatientPage:
    patient: Patient
    courses: list[TreatmentCourse]
    cycles: list[CycleData]
    current: CycleData | None
    counts: list[CountResult]
    gcsf: list[GcsfDose]
    temperatures: list[TemperatureReading]
    open_alerts: list[Alert]
    past_alerts: list[Alert]

    @property
    def last_count(self) -> CountResult | None:
        return self.counts[-1] if self.counts else None

    @property
    def charted_cycles(self) -> list[CycleData]:
        """Return the cycles that have started, plus the current one: newest first."""
        shown = [c for c in self.cycles if c.started or c.is_current]
        return sorted(shown, key=lambda c: c.start, reverse=True)


def patient_page(patient: Patient, now: datetime) -> PatientPage:
    """Return everything the patient page, its charts and the CSV export show (7 queries)."""
    courses = list(
        patient.courses.select_related("regimen").prefetch_related(
            Prefetch(
                "cycles",
                queryset=Cycle.objects.select_related("forecast").prefetch_related(
                    Prefetch("administrations", queryset=ChemoAdministration.objects.order_by("given_at"))
                ),
            )
        )
    )
    counts = list(patient.counts.order_by("collected_at"))
    gcsf = list(patient.gcsf_doses.order_by("given_at"))
    temperatures = list(patient.temperatures.order_by("taken_at"))
    alerts = sorted(
        Alert.objects.filter(patient=patient).select_related("cycle", "acknowledged_by"), key=alert_order
    )
    cycles = _cycles_with_inputs(courses, counts, gcsf, temperatures, now)
    return PatientPage(
        patient=patient,
        courses=courses,
        cycles=cycles,
        current=next((c for c in cycles if c.is_current), None),
        counts=counts,
        gcsf=gcsf,
        temperatures=temperatures,
        open_alerts=[a for a in alerts if a.is_open],
        past_alerts=sorted((a for a in alerts if not a.is_open), key=_alert_closed_at, reverse=True),
    )


def _alert_closed_at(alert: Alert) -> datetime:
    return alert.acknowledged_at or alert.resolved_at or alert.raised_at


def _cycles_with_inputs(courses, counts, gcsf, temperatures, now: datetime) -> list[CycleData]:
    """Split the patient's inputs into cycles: each runs from its day 1 to the next cycle's."""
    ordered = sorted(
        ((course, cycle) for course in courses for cycle in course.cycles.all()
         if cycle.status != Cycle.Status.CANCELLED),
        key=lambda pair: pair[1].day1,
    )
    active = next((course for course in courses if course.active), None)
    current = (
        current_cycle_of(list(active.cycles.all()), now) if active else None
    )
    result = []
    for index, (course, cycle) in enumerate(ordered):
        start = cycle.day1
        end = ordered[index + 1][1].day1 if index + 1 < len(ordered) else None

        def inside(moment: datetime, start=start, end=end) -> bool:
            return start <= moment and (end is None or moment < end)

        forecast = getattr(cycle, "forecast", None)
        result.append(CycleData(
            cycle=cycle,
            regimen=course.regimen,
            start=start,
            end=end,
            administrations=list(cycle.administrations.all()),
            counts=[c for c in counts if inside(c.collected_at)],
            gcsf=[g for g in gcsf if inside(g.given_at)],
            temperatures=[t for t in temperatures if inside(t.taken_at)],
            forecast=forecast,
            is_current=current is not None and cycle.pk == current.pk,
            baseline=[c for c in counts if start - clinical.PRE_DOSE_COUNT_WINDOW <= c.collected_at < start][-1:],
        ))
    for earlier, later in zip(result, result[1:]):
        earlier.next_baseline = later.baseline
    return result


def visible_alerts(user):
    """Return the alerts of the user's teams' patients (the team scoping of the inbox), and the alerts
    of an unregistered MRN's results she was told of in-app (alerts.unregistered)."""
    told = Delivery.objects.filter(alert__patient__isnull=True, channel=Delivery.Channel.INAPP,
                                   recipient=user.get_username()).values("alert_id")
    return Alert.objects.filter(Q(patient__in=Patient.objects.visible_to(user)) | Q(pk__in=told))


def alert_inbox(user, history_limit: int = 100) -> dict:
    """Return open alerts (most severe first) and the latest acknowledged or resolved ones."""
    alerts = visible_alerts(user).select_related(
        "patient__team", "patient__responsible_nurse", "cycle__course__regimen", "acknowledged_by"
    )
    open_alerts = sorted(alerts.filter(resolved_at__isnull=True, acknowledged_at__isnull=True), key=alert_order)
    history = list(
        alerts.filter(Q(acknowledged_at__isnull=False) | Q(resolved_at__isnull=False))
        .order_by(Coalesce("acknowledged_at", "resolved_at").desc(), "-pk")[:history_limit]
    )
    return {"open": open_alerts, "history": history}


def open_alert_count(user) -> int:
    """Return how many open alerts the user's teams have (the number in the menu)."""
    return visible_alerts(user).filter(resolved_at__isnull=True, acknowledged_at__isnull=True).count()


# --- Calibration in the clinic --------------------------------------------------------------


def calibration_summary(now: datetime) -> dict:
    """Return how well the stored forecasts did on the counts that arrived after them.

    Clinic-wide, per regimen and overall, aggregates only (no patient appears): scored predictions,
    share inside the 80 % band, mean absolute log10 error, mean PIT, and grade-4 forecasts against
    outcomes. For the latter each finished cycle (day 1 + cycle length has passed) with a score
    counts once: its first scored forecast's P(grade 4) against whether a count below 0.5 was
    measured in the cycle.
    """
    from django.conf import settings
    from django.db.models import Avg
    from django.db.models.functions import Abs

    from monitoring.models import ForecastScore

    aggregates = {"n": Count("pk"), "inside": Count("pk", filter=Q(inside80=True)),
                  "mae": Avg(Abs("log10_error")), "pit": Avg("pit")}
    overall = ForecastScore.objects.aggregate(**aggregates)
    per_regimen = ForecastScore.objects.values("regimen__code").annotate(**aggregates).order_by("regimen__code")
    grade4 = _grade4_outcomes(now, settings.NEUTROWATCH["GRADE4_PREDICTED_THRESHOLD"])
    regimens = [{"regimen": row["regimen__code"], **_calibration_figures(row),
                 "grade4": grade4.get(row["regimen__code"], _empty_grade4())} for row in per_regimen]
    total_grade4 = _empty_grade4()
    for table in grade4.values():
        for key in total_grade4:
            total_grade4[key] += table[key]
    return {**_calibration_figures(overall), "grade4": total_grade4, "regimens": regimens,
            "grade4_threshold": settings.NEUTROWATCH["GRADE4_PREDICTED_THRESHOLD"]}


def _calibration_figures(row: dict) -> dict:
    n = row["n"] or 0
    return {"n": n, "cover80": round(row["inside"] / n, 3) if n else None,
            "mae_log10": round(row["mae"], 3) if n else None, "mean_pit": round(row["pit"], 3) if n else None}


def _empty_grade4() -> dict:
    return {"cycles": 0, "predicted_and_observed": 0, "predicted_not_observed": 0, "observed_not_predicted": 0,
            "neither": 0}


def _grade4_outcomes(now: datetime, threshold: float) -> dict[str, dict]:
    """Return per regimen code the 2x2 table of grade-4 forecasts against grade-4 outcomes.

    Three queries however many cycles: the scores, the finished cycles, and the grade-4 counts
    of their patients over the span of those cycles (matched to each cycle here).
    """
    from monitoring.models import ForecastScore

    first: dict[int, float | None] = {}
    for cycle_id, p_grade4 in (ForecastScore.objects.order_by("cycle_id", "forecast_as_of")
                               .values_list("cycle_id", "p_grade4")):
        first.setdefault(cycle_id, p_grade4)
    windows = {}  # cycle -> [day 1, day 1 + cycle length)
    for cycle in Cycle.objects.filter(pk__in=first).select_related("course__regimen"):
        end = cycle.day1 + timedelta(days=cycle.course.regimen.cycle_length_days)
        if end <= now:
            windows[cycle] = (cycle.day1, end)
    grade4_at: dict[int, list[datetime]] = {}
    if windows:
        grade4_counts = CountResult.objects.filter(
            patient_id__in={cycle.course.patient_id for cycle in windows}, anc_1e9_per_l__lt=clinical.GRADE4_BELOW,
            collected_at__gte=min(start for start, _ in windows.values()),
            collected_at__lt=max(end for _, end in windows.values()))
        for patient_id, collected_at in grade4_counts.values_list("patient_id", "collected_at"):
            grade4_at.setdefault(patient_id, []).append(collected_at)
    tables: dict[str, dict] = {}
    for cycle, (start, end) in windows.items():
        table = tables.setdefault(cycle.course.regimen.code, _empty_grade4())
        predicted = (first[cycle.pk] or 0.0) >= threshold
        observed = any(start <= at < end for at in grade4_at.get(cycle.course.patient_id, ()))
        key = {(True, True): "predicted_and_observed", (True, False): "predicted_not_observed",
               (False, True): "observed_not_predicted", (False, False): "neither"}[(predicted, observed)]
        table[key] += 1
        table["cycles"] += 1
    return tables

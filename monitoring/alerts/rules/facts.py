"""The facts the rules read and what they find: kinds, severities, thresholds, points, findings (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal

from monitoring import clinical

# Kinds and severities, the same values as monitoring.models.Alert.Kind / Alert.Severity.
GRADE4_OBSERVED = "grade4_observed"



GRADE3_OBSERVED = "grade3_observed"



GRADE4_PREDICTED = "grade4_predicted"



FEBRILE_NEUTROPENIA = "febrile_neutropenia"



NOT_READY = "not_ready"



NADIR_UNMONITORED = "nadir_unmonitored"



GCSF_NOT_GIVEN = "gcsf_not_given"



FEVER_UNKNOWN_ANC = "fever_unknown_anc"



FEVER_RECHECK = "fever_recheck"



GCSF_TIMING = "gcsf_timing"



PLATELETS_GRADE4 = "platelets_grade4"



# Raised and resolved only where the exceptions queue changes (alerts.evaluate_held), never by
# the cycle and patient rules below: they are not in ALL_KINDS nor OBSERVED_KINDS.
HELD_RESULT = "held_result"
UNREADABLE_HELD = "unreadable_held"
HELD_TEMPERATURE = "held_temperature"
HELD_KINDS = (HELD_RESULT, UNREADABLE_HELD, HELD_TEMPERATURE)
# A result for an MRN nobody has registered: no patient, told to a named list (alerts.unregistered).
UNREGISTERED_RESULT = "unregistered_result"



ALL_KINDS = (
    GRADE4_OBSERVED, GRADE3_OBSERVED, GRADE4_PREDICTED, FEBRILE_NEUTROPENIA,
    NOT_READY, NADIR_UNMONITORED, GCSF_NOT_GIVEN, FEVER_UNKNOWN_ANC, FEVER_RECHECK, GCSF_TIMING, PLATELETS_GRADE4,
)



# The kinds the save path evaluates (and may raise or clear) inside the saving transaction.
OBSERVED_KINDS = frozenset({GRADE4_OBSERVED, GRADE3_OBSERVED, FEBRILE_NEUTROPENIA, FEVER_UNKNOWN_ANC,
                            FEVER_RECHECK, GCSF_TIMING, PLATELETS_GRADE4})
# "Not ready" is also decided at save time, but only for a cycle with a pre-dose count (which wins
# over the forecast): without one, its absence at save time says nothing (the forecast decides).
PRE_DOSE_KINDS = frozenset({NOT_READY})



LOW, MEDIUM, HIGH, CRITICAL = 1, 2, 3, 4



FN_RISK_HIGH = "high"



FN_RISK_INTERMEDIATE = "intermediate"



# Half the forecast engine's 12-hour trajectory step: a point this far before the fever still
# describes the ANC at the fever.
TRAJECTORY_SLACK = timedelta(hours=12)



@dataclass(frozen=True)
class Thresholds:
    """The clinic-configurable thresholds (settings.NEUTROWATCH)."""

    grade4_predicted_probability: float = clinical.GRADE4_PREDICTED_PROBABILITY
    not_ready_probability: float = 0.5
    fever_policy: str = clinical.DEFAULT_FEVER_POLICY
    # Hysteresis of the forecast-driven alerts (issue 21 item 10): a live "grade 4 predicted"
    # clears only below the lower probability; once cleared, it is not raised again within
    # `rearm` unless P(grade 4) reaches the raise threshold plus `rearm_margin`.
    grade4_predicted_clear_probability: float = clinical.GRADE4_PREDICTED_CLEAR_PROBABILITY
    rearm: timedelta = timedelta(hours=24)
    rearm_margin: float = clinical.GRADE4_PREDICTED_REARM_MARGIN



@dataclass(frozen=True)
class CountPoint:
    collected_at: datetime
    anc_1e9_per_l: Decimal
    count_id: int | None = None
    platelets_1e9_per_l: Decimal | None = None  # of the same specimen, when the lab sent them
    qualifier: str = ""  # "<" or ">": a censored count, stored (and graded) as its bound

    @property
    def anc_text(self) -> str:
        """Return the ANC as received: "<0.1" for a censored count, else as stored ("0.310")."""
        return clinical.count_text(self.anc_1e9_per_l, self.qualifier)



@dataclass(frozen=True)
class GcsfPoint:
    given_at: datetime  # as recorded: for an on-body injector, when it was applied
    product: str  # clinical.FILGRASTIM, PEGFILGRASTIM or LIPEGFILGRASTIM
    dose_id: int | None = None
    on_body_injector: bool = False

    @property
    def acts_at(self) -> datetime:
        """Return when the dose reaches the patient: an on-body injector delivers about 27 h after it is applied."""
        return self.given_at + clinical.ON_BODY_INJECTOR_DELIVERS_AFTER if self.on_body_injector else self.given_at



@dataclass(frozen=True)
class ChemoPoint:
    """A chemotherapy dose: its recorded (start) time and its regimen's continuous infusion after it."""

    given_at: datetime
    infusion_hours: int = 0  # Regimen.infusion_hours: 46 for a 5-FU pump

    @property
    def ends_at(self) -> datetime:
        """Return when this dose's chemotherapy ends (clinical.chemo_end)."""
        return clinical.chemo_end(self.given_at, self.infusion_hours)



@dataclass(frozen=True)
class TrajectoryPoint:
    """One point of the forecast trajectory, ANC in 10^9/L (median and 80 % band)."""

    time: datetime
    anc: float
    lo80: float
    hi80: float



@dataclass(frozen=True)
class ForecastFacts:
    nadir_anc_1e9_per_l: float | None
    nadir_lo80: float | None
    nadir_hi80: float | None
    nadir_at: datetime | None
    p_grade4: float | None
    p_ready: float | None
    trajectory: tuple[TrajectoryPoint, ...] = ()
    next_fbc_on: date | None = None   # the day one more count would tell most (forecast.next_count)



@dataclass(frozen=True)
class CycleFacts:
    """Everything the rules need to know about one cycle at `now`, in canonical units.

    A patient without an active cycle is described with `day1=None` (and `on_chemotherapy`
    False): only the observed rules apply to them.
    """

    now: datetime
    clinic_tz: tzinfo
    cycle_number: int
    day1: datetime | None
    chemo_given: bool
    cycle_over: bool
    next_day1: datetime | None  # None: no next cycle in the course
    fn_risk: str
    nadir_window_days: tuple[int, int]
    next_cycle_anc_1e9_per_l: Decimal
    next_cycle_platelets_1e9_per_l: Decimal = clinical.DEFAULT_NEXT_CYCLE_PLATELETS
    gcsf_risk_factors: tuple[str, ...] = ()
    # From PRE_DOSE_COUNT_WINDOW before day 1 (or KNOWN_ANC_WITHIN before now, if earlier) up to now;
    # without a cycle, the last NO_CYCLE_COUNT_LOOKBACK.
    counts: tuple[CountPoint, ...] = ()
    temperatures: tuple[clinical.TemperaturePoint, ...] = ()  # the last FN_FEVER_LOOKBACK
    gcsf_given_at: tuple[datetime, ...] = ()  # from GCSF_COUNTS_FROM_BEFORE_DAY1 before day 1
    forecast: ForecastFacts | None = None
    # The patient's current cycle: the patient-level rules (fever, G-CSF timing) run in it only.
    is_current: bool = True
    on_chemotherapy: bool = True
    chemo_given_at: tuple[ChemoPoint, ...] = ()  # this cycle's chemotherapy doses
    chemo_times: tuple[ChemoPoint, ...] = ()  # the patient's chemotherapy doses of the last weeks
    gcsf_doses: tuple[GcsfPoint, ...] = ()  # the patient's G-CSF doses of GCSF_TIMING_LOOKBACK
    prior_febrile_neutropenia: bool = False  # recorded risk factor or an FN alert in an earlier cycle
    chemo_interval_days: int | None = None  # the regimen's shortest interval between chemo days
    # What the lifecycle knows of this cycle's alerts, for hysteresis: the kinds live now, and when
    # each kind's last alert was resolved.
    live_kinds: frozenset[str] = frozenset()
    last_cleared: dict[str, datetime] = field(default_factory=dict)
    # The latest evidence of this cycle's live alerts, by kind: what a live alert stood on (a measured
    # low pre-dose count keeps "not ready" until a measured count says otherwise).
    live_evidence: dict[str, dict] = field(default_factory=dict)
    next_day1_given: bool = False  # the next cycle's day 1 is given (next_day1 is then not a plan)
    gcsf_decision: str = ""  # "not indicated" or "declined", recorded for this course (stops "not given")
    planned_gcsf: str = ""  # G-CSF an oncologist put in this cycle's plan (a what-if applied), in words


    def rearming(self, kind: str, thresholds: Thresholds) -> bool:
        """Return True if an alert of `kind` cleared within the re-arm time (raise only past the margin)."""
        cleared = self.last_cleared.get(kind)
        return cleared is not None and self.now - cleared < thresholds.rearm



@dataclass(frozen=True)
class Finding:
    """A condition that holds now: what an alert says and the evidence behind it."""

    kind: str
    severity: int
    message: str
    evidence: dict = field(default_factory=dict)
    # Set when the condition held and has since cleared (e.g. the count recovered): a critical
    # alert is still raised for it and stays open until a person acknowledges it.
    cleared_at: datetime | None = None


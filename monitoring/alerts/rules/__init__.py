"""Alert rules on plain data: which conditions hold for one cycle at one moment.

No Django, no ORM, no clock: `monitoring.alerts.facts` gathers the facts of a cycle into a
`CycleFacts` and stores what `evaluate` finds. Each finding is a condition that holds *now*;
the alert service raises an alert for a new condition, keeps the open one while it lasts
and resolves it when the finding is gone. Thresholds come from `monitoring.clinical`
(with their sources) and from the clinic's settings (`settings.NEUTROWATCH`, passed in
as `Thresholds`).

Two callers, one rule set: the save path runs the OBSERVED rules (measured counts and
temperatures, G-CSF timing) inside the saving transaction, so what has happened reaches a
nurse with or without the worker; the worker runs every rule after each forecast.

Rules (issues 4 and 11), severities in brackets:
1. Grade 4 observed, ANC < 0.5 [critical]; grade 3 observed, 0.5 <= ANC < 1.0 [high].
   CTCAE v5.0, on the WORST count of the cycle so far (in any arrival order). A count in the
   72 h before day 1 is the pre-dose count of that cycle and is graded in it. The condition
   clears when the patient's latest count is back at or above the grade's bound; a critical
   alert then says so but stays open until acknowledged (monitoring.alerts.lifecycle).
1b. Grade 4 thrombocytopenia observed [high]: platelets < 25 x10^9/L (CTCAE v5.0) in the cycle's
   counts, cleared when the latest platelets are 25 or more (issue 21 item 7).
2. Grade 4 predicted: forecast P(grade 4) >= threshold (default 0.5) before any count of the
   cycle is below 0.5 [high].
3. Febrile neutropenia suspected [critical]: fever (FEVER_POLICY: by default NICE CG151 with
   IDSA 2010 / CTCAE; a NICE criterion needs a measured ANC <= 0.5, issue 21 item 6) in the
   last 24 h, while the last ANC < 1.0 (NCCN) or the forecast falls below 0.5 within 48 h of
   the fever (IDSA 2010 "expected to fall").
   The forecast criterion uses the LOWER 80 % bound (10th centile) of the trajectory, not the
   median: a missed FN is a death risk and a needless FN work-up is not, so a 1-in-10 chance
   of ANC < 0.5 within 48 h is enough to call the fever neutropenic.
   A live FN alert lasts after the fever while the last ANC is below 0.5 (IDSA 2010: antibiotics
   continue until ANC >= 0.5), so the episode is not ended by the 24-hour fever lookback.
3b. Fever with unknown neutrophil status [critical]: fever on chemotherapy and no count in the
   last 24 h (a forecast is not a count): treat as possible neutropenic sepsis (NICE CG151).
   Without an active cycle, "on chemotherapy" is a dose in the last 30 days (NICE sepsis 1.1.9).
   With a count of 1.0 or more in the last 24 h the same alert is high: assess for infection.
   A fever entered more than a day after it was taken (rules/late_fever.py) raises the same alert,
   high, naming the delay: telephone the patient now; unless she cannot be neutropenic or the
   fever is clearly historical (clinical LATE_FEVER_*), when it raises nothing and says why.
3c. Fever re-check [medium]: one reading of 38.0 C or more that is not yet a fever under the
   policy (IDSA: 38.0-38.2 C once): re-check within 1 h; a re-check >= 38.0 C makes it a fever.
4. Not ready for the next cycle [medium]: the latest pre-dose count (72 h before the next
   day 1, or after it while not given) is below the regimen's ANC or platelet threshold (decided
   at save time too: PRE_DOSE_KINDS), or, without one, forecast P(ANC >= threshold on
   the next day 1) < 0.5. A pre-dose count at or above the threshold wins over the forecast, and a
   forecast never clears a "not ready" a measured count raised: after a delay it is kept until a
   later count is at or above the threshold (live_evidence; the safety round, item 5).
5. Nadir window unmonitored [low]: intermediate or high FN-risk regimen, the predicted nadir
   window is under way and no count has been taken in it.
6. G-CSF indicated but not given [medium]: from 72 h after the END of the last chemotherapy dose
   of the cycle (after its continuous infusion, e.g. a 46-h 5-FU pump), with no G-CSF recorded:
   high FN-risk regimen (primary prophylaxis), intermediate with patient risk factors
   ("consider", NCCN), or any regimen after an FN episode (secondary prophylaxis, ASCO 2015);
   never once "not indicated" or "declined" is recorded for the course (GcsfDecision).
7. G-CSF timing [medium]: a pegfilgrastim dose from 14 days before to 24 h after chemotherapy,
   or a filgrastim dose from 24 h before to 24 h after it (product labels). In a regimen given
   every 2 weeks, pegfilgrastim from 12 days before (NCCN: day-2 pegfilgrastim is accepted there).
   "Before" counts from the start of chemotherapy, "after" from its end: a dose while a continuous
   infusion still runs (FOLFOX's 46-h 5-FU pump) is flagged (clinical.chemo_end). Pegfilgrastim is
   also held against the next PLANNED day 1, and an on-body injector is judged on its delivery
   (about 27 h after it is applied).
8. Held for review (alerts.held, alerts.unregistered; not in ALL_KINDS): a count held in the
   exceptions queue graded under every reading its hold names [critical if any is grade 4, else
   high]; "unreadable count held" [high]; a grade 3-4 count or a fever of an unregistered MRN
   [critical, to a named list] (issue 21 item 5).

Hysteresis (issue 21): "grade 4 predicted" and "nadir window unmonitored" read which kinds are live
and when each last cleared (`CycleFacts.live_kinds`, `last_cleared`): see those rules. Worse is
news: `worsening` says in words how a live alert's condition worsened (`SUPERSEDES`: graver kinds).
"""

from monitoring.alerts.rules.evaluation import evaluate, has_pre_dose_count  # noqa: F401
from monitoring.alerts.rules.facts import (  # noqa: F401
    ALL_KINDS,
    CRITICAL,
    FEBRILE_NEUTROPENIA,
    FEVER_RECHECK,
    FEVER_UNKNOWN_ANC,
    FN_RISK_HIGH,
    FN_RISK_INTERMEDIATE,
    GCSF_NOT_GIVEN,
    GCSF_TIMING,
    GRADE3_OBSERVED,
    GRADE4_OBSERVED,
    GRADE4_PREDICTED,
    HELD_KINDS,
    HELD_RESULT,
    HELD_TEMPERATURE,
    HIGH,
    LOW,
    MEDIUM,
    NADIR_UNMONITORED,
    NOT_READY,
    OBSERVED_KINDS,
    PLATELETS_GRADE4,
    PRE_DOSE_KINDS,
    TRAJECTORY_SLACK,
    UNREADABLE_HELD,
    UNREGISTERED_RESULT,
    ChemoPoint,
    CountPoint,
    CycleFacts,
    Finding,
    ForecastFacts,
    GcsfPoint,
    Thresholds,
    TrajectoryPoint,
)
from monitoring.alerts.rules.forecast import not_ready_moved  # noqa: F401
from monitoring.alerts.rules.held import (  # noqa: F401
    HeldCount,
    HeldTemperature,
    UnreadableCount,
    UnregisteredResult,
    held_result,
    held_temperature,
    unreadable_held,
    unregistered_result,
)
from monitoring.alerts.rules.late_fever import delay_words, late_fevers_not_alerted  # noqa: F401
from monitoring.alerts.rules.worsening import SUPERSEDES, transition, worsening  # noqa: F401

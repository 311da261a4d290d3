"""Every threshold NeutroWatch acts on, with its source (CTCAE v5.0, IDSA 2010, NICE CG151, NCCN, labels).

Plain constants: nothing here touches the database or reads the clock.

Sources
- CTCAE v5.0: Common Terminology Criteria for Adverse Events v5.0, NCI 2017,
  "Neutrophil count decreased" and "Febrile neutropenia".
- IDSA 2010: Freifeld AG et al. Clinical practice guideline for the use of
  antimicrobial agents in neutropenic patients with cancer. Clin Infect Dis
  2011;52:e56-e93.
- NCCN: Prevention and Treatment of Cancer-Related Infections; Hematopoietic
  Growth Factors (myeloid growth factors).
- ASCO/IDSA 2018: Taplitz RA et al. J Clin Oncol 2018;36:1443-1453.
- Docetaxel prescribing information (do not give with neutrophils < 1500 cells/mm3).
- NICE CG151 (2012, updated 2020): Neutropenic sepsis: prevention and management in people
  with cancer. 1.2: suspect neutropenic sepsis in anyone having anticancer treatment who
  becomes unwell; treat a temperature higher than 38 C as fever; do not wait for the FBC.
- Pegfilgrastim (Neulasta) label: do not administer between 14 days before and 24 hours after
  cytotoxic chemotherapy. Filgrastim (Neupogen) label: start no earlier than 24 hours after
  cytotoxic chemotherapy, not in the 24 hours before it; usually 24-72 h after.
- ASCO 2015: Smith TJ et al. J Clin Oncol 2015;33:3199 (G-CSF primary and secondary prophylaxis).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

# --- CTCAE v5.0 "Neutrophil count decreased" -------------------------------------------
# Grade boundaries in 10^9/L. A value exactly on a boundary belongs to the milder grade
# (CTCAE writes "<LLN - 1500/mm3" for grade 1, "<1500 - 1000/mm3" for grade 2, ...).
GRADE2_BELOW = Decimal("1.5")
GRADE3_BELOW = Decimal("1.0")
GRADE4_BELOW = Decimal("0.5")
# Grade 1 starts at the lab's lower limit of normal, not at a fixed 2.0. When the lab
# sends no LLN we use the clinic setting (default 1.8, a common adult reference limit).
DEFAULT_ANC_LLN = Decimal("1.8")
# IDSA 2010: profound neutropenia.
PROFOUND_BELOW = Decimal("0.1")

# --- Febrile neutropenia ----------------------------------------------------------------
# IDSA 2010 / NCCN: fever is a single oral temperature >= 38.3 C, or >= 38.0 C sustained
# over 1 hour. (CTCAE v5.0's FN term uses > 38.3 C single; we alert on the IDSA >= so the
# nurse is never told later than the guideline says.)
FEVER_SINGLE_C = Decimal("38.3")
FEVER_SUSTAINED_C = Decimal("38.0")
FEVER_SUSTAINED_FOR = timedelta(hours=1)
# The fever definition is a clinic setting (FEVER_POLICY, issue 21 item 6). The default is the most
# sensitive reading of the guidelines, their union: NICE CG151 (a temperature higher than 38 C with
# neutrophils <= 0.5 x10^9/L is neutropenic sepsis) together with IDSA 2010 / CTCAE v5.0 (>= 38.3 C
# once, or >= 38.0 C sustained over an hour, with the neutropenia bound below). A local policy
# narrows it: "nice" (NICE only, keeping the sustained 38.0 C rule, every criterion with NICE's
# neutrophil bound) or "idsa" (IDSA / CTCAE only). The policy is named on the alert.
FEVER_POLICY_NICE_IDSA = "nice_idsa"
FEVER_POLICY_IDSA = "idsa"
FEVER_POLICY_NICE = "nice"
FEVER_POLICIES = (FEVER_POLICY_NICE_IDSA, FEVER_POLICY_IDSA, FEVER_POLICY_NICE)
DEFAULT_FEVER_POLICY = FEVER_POLICY_NICE_IDSA
FEVER_POLICY_NAMES = {
    FEVER_POLICY_NICE_IDSA: "NICE CG151 with IDSA 2010 / CTCAE v5.0",
    FEVER_POLICY_IDSA: "IDSA 2010 / CTCAE v5.0 (local policy)",
    FEVER_POLICY_NICE: "NICE CG151 (local policy)",
}
NICE_FEVER_ABOVE_C = Decimal("38.0")
# NICE CG151 1.1: neutropenic sepsis is a neutrophil count of 0.5 x10^9/L or lower (<=, not <).
NICE_NEUTROPENIA_AT_MOST = Decimal("0.5")
# IDSA "sustained over 1 h": a single reading of 38.0-38.2 C prompts a re-check within the hour;
# a re-check that is still >= 38.0 C (nothing below in between) confirms the fever.
FEVER_RECHECK_WITHIN = timedelta(hours=1)
# Neutrophil status is "known" only with a measured count this recent: NICE CG151 asks for an
# urgent FBC at presentation, and a forecast is not a count.
KNOWN_ANC_WITHIN = timedelta(hours=24)
# IDSA 2010: neutropenia for the FN pathway is ANC < 0.5, or expected to fall below 0.5
# within 48 h. NCCN also counts ANC < 1.0 with a predicted decline to <= 0.5 in 48 h,
# so the alert uses the wider NCCN bound on the last measured ANC.
FN_ANC_BELOW = Decimal("1.0")
FN_PREDICTED_ANC_BELOW = Decimal("0.5")
FN_PREDICTION_HORIZON = timedelta(hours=48)
# A hotter fever in an episode already in hand is news (the safety round, item 2): re-notified through
# the lifecycle's "Worse" path when the hottest reading rises into a higher CTCAE v5.0 "Fever" grade
# (grade 1: 38.0-39.0 C; grade 2: > 39.0-40.0 C; grade 3: > 40.0 C), or by FEVER_WORSE_BY_C over the
# hottest reading the alert has shown. The margin is the deadband against flapping (ANSI/ISA-18.2, as
# for the forecast alerts): half a degree is beyond the repeat variation of one thermometer and site
# (about 0.2-0.3 C), and the comparison is with the hottest reading the alert has shown, which only
# rises, so readings that go up and down under it never re-notify.
FEVER_GRADE2_ABOVE_C = Decimal("39.0")
FEVER_GRADE3_ABOVE_C = Decimal("40.0")
FEVER_WORSE_BY_C = Decimal("0.5")
# ASCO/IDSA 2018: empirical antibiotics within 1 hour of triage.
FN_ANTIBIOTICS_WITHIN = timedelta(hours=1)

# --- Counts that need confirmation (delta check) -------------------------------------------
# A count more than 10 times above or below the patient's previous count of the last 48 h is
# far outside day-to-day biological change (even G-CSF recovery rarely multiplies ANC tenfold
# in two days), and a value of 20-100 "x10^9/L" is almost always cells/uL typed in the wrong
# unit. Both are held for a person to confirm (issue 11); values are compared from the lab's
# resolution (0.01) so that 0.00 -> 0.02 is not a "factor".
DELTA_FACTOR = Decimal("10")
DELTA_WITHIN = timedelta(hours=48)
DELTA_FLOOR = Decimal("0.01")
SUSPECT_CELLS_PER_UL_FROM = Decimal("20")
SUSPECT_CELLS_PER_UL_TO = Decimal("100")

# --- Next cycle -------------------------------------------------------------------------
# Docetaxel label and common protocol rule: full dose needs ANC >= 1.5 x10^9/L.
DEFAULT_NEXT_CYCLE_ANC = Decimal("1.5")
# Platelets to start the next cycle (issue 21 item 7): >= 100 x10^9/L in most protocols (e.g. the
# docetaxel, paclitaxel and carboplatin labels' "platelets >= 100,000/mm3" retreatment rule, and
# common UK regimen protocols); some accept >= 75. A regimen setting (Regimen.next_cycle_platelets_1e9_per_l).
DEFAULT_NEXT_CYCLE_PLATELETS = Decimal("100")

# --- CTCAE v5.0 "Platelet count decreased" (x10^9/L; boundaries belong to the milder grade) ----
# Grade 1 < LLN - 75, grade 2 < 75 - 50, grade 3 < 50 - 25, grade 4 < 25.
PLATELETS_GRADE4_BELOW = Decimal("25")

# --- Numbers on screen (issue 21 item 9) ------------------------------------------------------
# A number shown rounded must not land on the other side of a boundary the nurse acts on: 0.499 is
# grade 4 and is never shown as "0.50" (grade 3), 38.04 C is above NICE's 38.0 C and is never "38.0".
# These are every such boundary: ANC grades and profound neutropenia, fever, platelet grades and the
# usual next-cycle platelet threshold.
DISPLAY_BOUNDARIES = (
    PROFOUND_BELOW, GRADE4_BELOW, GRADE3_BELOW, GRADE2_BELOW,
    FEVER_SUSTAINED_C, FEVER_SINGLE_C,
    Decimal("25"), Decimal("50"), Decimal("75"), Decimal("100"),
)

# --- Plausibility -----------------------------------------------------------------------
# An ANC above 100 x10^9/L is not a neutrophil count (even leukaemoid reactions with
# G-CSF stay well below); it is almost always a unit error (cells/uL labelled 10^3/uL).
MAX_PLAUSIBLE_ANC = Decimal("100")
MAX_PLAUSIBLE_WBC = Decimal("500")
# Platelets above 2,000 x10^9/L do not occur even in essential thrombocythaemia's extremes: a unit error.
MAX_PLAUSIBLE_PLATELETS = Decimal("2000")
TEMPERATURE_MIN_C = Decimal("30")
TEMPERATURE_MAX_C = Decimal("45")

# --- G-CSF prophylaxis (ASCO 2015, NCCN, EORTC 2010) --------------------------------------
# Primary prophylaxis when regimen FN risk >= 20 %; at 10-20 % when patient factors raise it.
GCSF_EXPECTED_BY_CYCLE_DAY = 3
OLDER_PATIENT_AGE = 65
# Filgrastim starts 24-72 h after chemotherapy; pegfilgrastim >= 24 h after, and an on-body
# injector is applied on day 1: a dose up to 12 h before the day-1 dose counts for the cycle.
GCSF_COUNTS_FROM_BEFORE_DAY1 = timedelta(hours=12)
# The "G-CSF not given" prompt falls due at the END of the labels' window (issue 21 item 8): filgrastim
# starts 24-72 h after chemotherapy (Neupogen label; NCCN "1-3 days after completion"), pegfilgrastim
# is given from 24 h after it, usually by 72 h. Prompting at 24 h, the first hour it may be given,
# asked every cycle about a dose that was simply not due yet. Counted from the END of the last
# dose's chemotherapy (chemo_end): with a 46-hour 5-FU pump, 72 h after the pump stops.
GCSF_DUE_AFTER_CHEMO = timedelta(hours=72)
# Pegfilgrastim on-body injector (Neulasta Onpro label): applied on the day of chemotherapy, it
# delivers the dose about 27 hours after it is applied. Its timing is judged on that delivery time.
ON_BODY_INJECTOR_DELIVERS_AFTER = timedelta(hours=27)
# Pegfilgrastim label: not from 14 days before to 24 h after cytotoxic chemotherapy.
PEGFILGRASTIM_NOT_BEFORE_CHEMO = timedelta(days=14)
PEGFILGRASTIM_NOT_AFTER_CHEMO = timedelta(hours=24)
# Regimens given every 2 weeks (dose-dense AC, CHOP-14, FOLFOX, ABVD's days 1 and 15): NCCN
# (Hematopoietic Growth Factors) accepts pegfilgrastim with at least 12 days before the next
# chemotherapy (phase II evidence; dose-dense AC with day-2 pegfilgrastim, CALGB 9741 schedule;
# review: Mahtani et al., BMC Cancer 2021;21:621; EORTC 2010 alike). Weekly and shorter schedules
# have no data (NCCN): the label's 14 days stays for them, and for 3-weekly ones.
PEGFILGRASTIM_NOT_BEFORE_CHEMO_EVERY_2_WEEKS = timedelta(days=12)
EVERY_2_WEEKS_INTERVAL_DAYS = (14, 20)  # shortest interval between chemotherapy days, inclusive
# With a continuous infusion every 2 weeks (FOLFOX, FOLFIRINOX: a 46-h 5-FU pump) no time is both
# 24 h after the pump ends and 12 days before the next cycle: the label's earliest time falls on
# day 4, about 11 days before day 15. Day 4, "the day after 5-FU pump disconnect", is how clinics
# follow the label in these regimens (Draper et al., J Oncol Pharm Pract 2021;27:1159, and HOPA
# News 2021;18(1) on it). So the window before the next cycle is what the schedule leaves once
# day 4 has passed: the interval less the infusion, the label's 24 h and up to one more day for
# the rest of day 4, in whole days (10 days for FOLFOX), never more than NCCN's 12. A dose on the
# day the pump is disconnected stays flagged (inside the label's 24 h; off label, Draper 2021).
PEGFILGRASTIM_AFTER_PUMP_DAY_SLACK = timedelta(hours=24)
# Filgrastim label: not in the 24 h before, and from 24 h after, cytotoxic chemotherapy.
FILGRASTIM_NOT_BEFORE_CHEMO = timedelta(hours=24)
FILGRASTIM_NOT_AFTER_CHEMO = timedelta(hours=24)
# "Before" counts from the start of chemotherapy (the recorded administration time), "after" from
# its END: the labels' "24 hours after cytotoxic chemotherapy" is after the last cytotoxic drug has
# been given, and G-CSF while cytotoxics still run stimulates the very cells they kill (the reason
# for the labels' rule). A regimen with a continuous infusion (Regimen.infusion_hours) ends that
# many hours after its recorded time: 5-FU 2400 mg/m2 as a 46-h ambulatory pump in the de Gramont /
# FOLFOX6 / FOLFIRI / FOLFIRINOX schedules (Tournigand et al., J Clin Oncol 2004;22:229;
# Conroy et al., N Engl J Med 2011;364:1817). NCCN (Hematopoietic Growth Factors) likewise
# starts filgrastim 1-3 days after the COMPLETION of chemotherapy.
FLUOROURACIL_PUMP_HOURS = 46
# A G-CSF dose is checked against chemotherapy for this long after it was given.
GCSF_TIMING_LOOKBACK = timedelta(days=14)

# --- Alert rules (monitoring/rules.py) ----------------------------------------------
# A pre-dose blood count is the one taken in the 72 h before the next day 1: the usual window
# of chemotherapy protocols (e.g. "FBC within 72 hours of treatment"); local protocols vary.
PRE_DOSE_COUNT_WINDOW = timedelta(hours=72)
# A fever keeps the FN alert open for 24 h after the last febrile reading: IDSA 2010 asks for
# assessment at presentation, and a reading a day old no longer says the patient is febrile now.
FN_FEVER_LOOKBACK = timedelta(hours=24)
# A fever entered late (the safety round, item 1). A reading entered more than FN_FEVER_LOOKBACK after
# it was taken is never "a fever now" to the rules above, so it reached nobody when it was taken and
# would reach nobody now. The rule (alerts/rules/late_fever.py), erring to the worst plausible reading:
# - a late reading of 38.0 C or more (FEVER_SUSTAINED_C, every policy's lowest fever bar: a single
#   38.0-38.2 C can no longer be re-checked within the hour, so it may have been sustained) in the
#   post-chemotherapy fever window (POST_CHEMO_FEVER_WINDOW_DAYS, the UKONS triage tool's scope) is
#   alerted, HIGH, for LATE_FEVER_ALERT_FOR after it is entered: telephone the patient now. A fever a
#   day old says nothing of now, so it is not an FN emergency by itself (not critical); but in a
#   patient who may be neutropenic it may have been an untreated neutropenic sepsis, and she may still
#   be febrile: UKONS triage makes a fever after SACT a "red" (assess face to face now), and the first
#   step from a report is the call that finds out whether she is febrile or unwell now (NICE CG151:
#   suspect neutropenic sepsis in anyone on anticancer treatment who becomes unwell).
# - unless she cannot be neutropenic: a count of 1.0 x10^9/L or more (FN_ANC_BELOW, the widest
#   neutropenia bound of the policies) taken no earlier than KNOWN_ANC_WITHIN before the fever and
#   still the latest, and no forecast below 0.5 from the fever to 48 h from now (IDSA 2010);
# - or it is clearly historical: taken more than LATE_FEVER_HISTORICAL_AFTER ago AND a normal reading
#   (below 38.0 C) was taken after it. 72 h: the 24 h a fever alert lasts plus IDSA's 48 h horizon of
#   "expected to fall below 0.5"; past it, with the fever followed by a normal temperature, the episode
#   is over without treatment and a call about it changes nothing (any new fever is its own alert).
# A late fever that raises no alert is still stored, and why is written on the reading's history.
LATE_FEVER_ENTERED_AFTER = FN_FEVER_LOOKBACK  # entered when the fever rules could no longer see it
LATE_FEVER_ALERT_FOR = FN_FEVER_LOOKBACK  # the alert stands this long after the entry, as a fever after its reading
LATE_FEVER_HISTORICAL_AFTER = timedelta(hours=72)
# "Nadir window": the forecast's predicted nadir time +/- 2 days (the nadir is broad: ANC stays
# near its lowest for several days, Friberg 2002); without a forecast, the regimen's window.
NADIR_WINDOW_HALF_WIDTH = timedelta(days=2)
# "Grade 4 neutropenia predicted" (issue 23 Part 1 item 4): raised when the forecast's P(grade 4 in
# this cycle) reaches GRADE4_PREDICTED_PROBABILITY. For a calibrated probability, alerting when
# P >= 1 / (1 + R) minimises the expected cost when a missed grade 4 costs R false alerts (decision
# theory: Pauker & Kassirer, N Engl J Med 1980;302:1109, the treatment threshold). R = 4, so 0.2:
# - a missed predicted grade 4 means no count planned in the nadir window and no reinforced fever
#   advice for a patient who becomes profoundly neutropenic, where febrile neutropenia untreated for
#   hours carries a mortality of several per cent (IDSA 2010; Kuderer et al. Cancer 2006;106:2258:
#   in-hospital mortality of FN 9.5 %), and it is the cue for secondary G-CSF prophylaxis (ASCO 2015);
# - a false alert costs a nurse's review, perhaps a blood count and a telephone call;
# - R is not larger because every false alert also spends attention (alert fatigue), and the fever
#   rules (IDSA/NICE) catch the dangerous case whatever the forecast said.
# Measured (docs/forecasting.md, `bench/alert_threshold.py --cost-ratio 4`): on the tuning cohort
# sensitivity 0.96 and specificity 0.82 at 0.2 (0.88 / 0.92 at 0.5); on misspecified cohorts, where
# the forecast underestimates P(grade 4), 0.5 missed a third to a half of the grade 4 patients.
# A clinic may set another value (NEUTROWATCH["GRADE4_PREDICTED_THRESHOLD"]).
GRADE4_PREDICTED_COST_RATIO = 4
GRADE4_PREDICTED_PROBABILITY = 1 / (1 + GRADE4_PREDICTED_COST_RATIO)
# Hysteresis (issue 21 item 10, ANSI/ISA 18.2 deadband): a live alert clears only below this, half
# the raise threshold; once cleared, it is raised again within the re-arm time only at the raise
# threshold plus GRADE4_PREDICTED_REARM_MARGIN.
GRADE4_PREDICTED_CLEAR_PROBABILITY = GRADE4_PREDICTED_PROBABILITY / 2
GRADE4_PREDICTED_REARM_MARGIN = 0.15
# Hysteresis of "nadir window unmonitored" (issue 21 item 10): the predicted window moves with
# each forecast; a live alert holds while now is within the window widened by this, and a count
# this long before the window still counts as monitoring it. Alarm-management practice (ANSI/ISA
# 18.2-2016 and EEMUA 191: a deadband and re-alarm delay against chattering alarms), sized at
# half the window's half width so it stays inside the clinical window.
NADIR_WINDOW_HYSTERESIS = timedelta(days=1)
# A patient without an active cycle: counts of this last week are graded for observed alerts
# (a count older than a week no longer says how the patient is).
NO_CYCLE_COUNT_LOOKBACK = timedelta(days=7)
# Record given: the pre-dose count must be at most 72 h old (PRE_DOSE_COUNT_WINDOW above).
# A fever in a patient whose course has ended, or with no cycle under way, is still a possible
# neutropenic sepsis for this long after the last chemotherapy dose: NICE sepsis guideline (NG51
# as amended 2024, NG255 2025, rec 1.1.9): "suspect neutropenic sepsis in people who become unwell
# and are having or have had systemic anticancer treatment within the last 30 days" (NICE CG151).
NEUTROPENIC_SEPSIS_AFTER_CHEMO = timedelta(days=30)
# The window the alerts use is a clinic setting (NEUTROWATCH["POST_CHEMO_FEVER_WINDOW_DAYS"], issue 21
# item 6), default 6 weeks: the scope of the UKONS 24-hour triage tool (v3, 2025: patients who have
# had systemic anticancer treatment in the last 6 weeks), wider than NICE's 30 days so a fever on day
# 31-42 still reaches a nurse. The same answer whether the patient's course is active or ended.
DEFAULT_POST_CHEMO_FEVER_WINDOW = timedelta(weeks=6)


# --- Telephone triage (UKONS 24-hour triage tool, v3 2025; monitoring/triage/) ----------------------
# One red, or two or more ambers: the patient is assessed face to face now; one amber: a follow-up
# call within 24 hours; otherwise advice. The tool's fever row is red at 37.5 C or above, or at
# 36.0 C or below, in a patient on systemic anticancer treatment (a lower bar than the IDSA and
# NICE fever definitions above: triage errs towards seeing the patient). Verify against the current tool.
TRIAGE_AMBERS_FOR_ASSESSMENT = 2
TRIAGE_CALL_BACK_WITHIN = timedelta(hours=24)
TRIAGE_RED_TEMPERATURE_AT_OR_ABOVE_C = Decimal("37.5")
TRIAGE_RED_TEMPERATURE_AT_OR_BELOW_C = Decimal("36.0")

"""Clinical rules on plain data: thresholds with their sources, units, grading, fever, G-CSF timing.

Every threshold NeutroWatch acts on lives in `thresholds.py` with its source. Nothing in this
package touches the database or reads the clock, so it is tested without Django's test database.
Callers use the names re-exported here (`clinical.ctcae_grade`, `clinical.GRADE4_BELOW`):

- `thresholds`: CTCAE v5.0 grades, febrile neutropenia (IDSA 2010, NICE CG151), next-cycle ANC,
  plausibility limits, G-CSF label windows, the alert rules' time windows;
- `units`: count units to 10^9/L, numbers and censored values as entered, the ANC from a differential;
- `grading`: the CTCAE grade of a count, fever episodes, counts that need confirmation;
- `gcsf`: G-CSF products and doses, chemotherapy end times and G-CSF timing;
- `counts`: a blood count as entered, validated and converted (`parse_count`).
"""

from monitoring.clinical.counts import CountInput, parse_count  # noqa: F401, E402
from monitoring.clinical.gcsf import (  # noqa: F401
    FILGRASTIM,
    GCSF_ATC,
    GCSF_DOSE_MAX_UG,
    GCSF_DOSE_MIN_UG,
    GCSF_DOSE_UNITS_UG,
    GCSF_PRODUCT_CHOICES,
    LIPEGFILGRASTIM,
    PEGFILGRASTIM,
    check_gcsf_dose,
    chemo_end,
    chemo_interval_days,
    gcsf_product,
    is_long_acting,
    pegfilgrastim_not_before_chemo,
)
from monitoring.clinical.grading import (  # noqa: F401
    AS_RECEIVED,
    GRADE_LABELS,
    IF_1E9_PER_L,
    IF_CELLS_PER_UL,
    IF_DECIMAL_SLIP,
    IF_UNIT_MIX_UP,
    TEMPERATURE_UNIT_CHOICES,
    Reading,
    TemperaturePoint,
    count_needs_confirmation,
    ctcae_grade,
    fever_episode,
    fever_needs_recheck,
    held_readings,
    to_celsius,
)
from monitoring.clinical.thresholds import (  # noqa: F401
    DEFAULT_ANC_LLN,
    DEFAULT_NEXT_CYCLE_ANC,
    DELTA_FACTOR,
    DELTA_FLOOR,
    DELTA_WITHIN,
    EVERY_2_WEEKS_INTERVAL_DAYS,
    FEVER_POLICIES,
    FEVER_POLICY_IDSA,
    FEVER_POLICY_NICE,
    FEVER_RECHECK_WITHIN,
    FEVER_SINGLE_C,
    FEVER_SUSTAINED_C,
    FEVER_SUSTAINED_FOR,
    FILGRASTIM_NOT_AFTER_CHEMO,
    FILGRASTIM_NOT_BEFORE_CHEMO,
    FLUOROURACIL_PUMP_HOURS,
    FN_ANC_BELOW,
    FN_ANTIBIOTICS_WITHIN,
    FN_FEVER_LOOKBACK,
    FN_PREDICTED_ANC_BELOW,
    FN_PREDICTION_HORIZON,
    GCSF_COUNTS_FROM_BEFORE_DAY1,
    GCSF_DUE_AFTER_CHEMO,
    GCSF_EXPECTED_BY_CYCLE_DAY,
    GCSF_TIMING_LOOKBACK,
    GRADE2_BELOW,
    GRADE3_BELOW,
    GRADE4_BELOW,
    KNOWN_ANC_WITHIN,
    MAX_PLAUSIBLE_ANC,
    MAX_PLAUSIBLE_WBC,
    NADIR_WINDOW_HALF_WIDTH,
    NEUTROPENIC_SEPSIS_AFTER_CHEMO,
    NICE_FEVER_ABOVE_C,
    NO_CYCLE_COUNT_LOOKBACK,
    OLDER_PATIENT_AGE,
    PEGFILGRASTIM_AFTER_PUMP_DAY_SLACK,
    PEGFILGRASTIM_NOT_AFTER_CHEMO,
    PEGFILGRASTIM_NOT_BEFORE_CHEMO,
    PEGFILGRASTIM_NOT_BEFORE_CHEMO_EVERY_2_WEEKS,
    PRE_DOSE_COUNT_WINDOW,
    PROFOUND_BELOW,
    SUSPECT_CELLS_PER_UL_FROM,
    SUSPECT_CELLS_PER_UL_TO,
    TEMPERATURE_MAX_C,
    TEMPERATURE_MIN_C,
)
from monitoring.clinical.units import (  # noqa: F401
    COUNT_UNIT_CHOICES,
    COUNT_UNITS,
    MAX_NUMBER_DIGITS,
    QUALIFIER_ABOVE,
    QUALIFIER_BELOW,
    UNIT_1E3_PER_UL,
    UNIT_1E9_PER_L,
    UNIT_PER_UL,
    ClinicalValueError,
    anc_from_differential,
    check_limits,
    count_to_1e9_per_l,
    normalise_count_unit,
    to_censored_decimal,
    to_decimal,
)

"""Data-entry forms, by subject. Every bad value gets a message on its field and nothing is saved.

fields (the shared fields and the time check), patients, counts, events (G-CSF doses, temperatures),
courses (a course, a cycle given or delayed, a course's G-CSF decision). Callers import from here.
"""
from monitoring.forms.counts import CountForm
from monitoring.forms.courses import (
    MAX_PLANNING_HORIZON,
    CourseForm,
    DelayCycleForm,
    GcsfDecisionForm,
    GiveCycleForm,
    check_within_horizon,
)
from monitoring.forms.events import GcsfForm, TemperatureForm
from monitoring.forms.fields import (
    CENSORED_HINT,
    DATETIME_FORMATS,
    NUMBER_HINT,
    CensoredCountField,
    DateTimeLocalField,
    PlainDecimalField,
    check_moment,
)
from monitoring.forms.patients import PatientForm

__all__ = [
    "CENSORED_HINT", "DATETIME_FORMATS", "MAX_PLANNING_HORIZON", "NUMBER_HINT", "CensoredCountField", "CountForm",
    "CourseForm", "DateTimeLocalField", "DelayCycleForm", "GcsfDecisionForm", "GcsfForm", "GiveCycleForm",
    "PatientForm", "PlainDecimalField", "TemperatureForm", "check_moment", "check_within_horizon",
]

"""Treatment: courses and cycles (start a course; give, delay or extend a cycle; readiness to give).

Callers outside this package use the names re-exported here.
"""

from monitoring.treatment.courses import (
    delay_cycle,
    give_cycle,
    give_cycle_concerns,
    record_administration,
    record_gcsf_decision,
    start_course,
)

__all__ = ["delay_cycle", "give_cycle", "give_cycle_concerns", "record_administration", "record_gcsf_decision",
           "start_course"]

"""Treatment: courses and cycles (start a course; give, delay or extend a cycle; readiness to give;
a what-if scenario applied as a cycle's plan).

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
from monitoring.treatment.plans import PlanMovedOn, apply_scenario, describe, open_scenarios, plan_stamp

__all__ = ["PlanMovedOn", "apply_scenario", "delay_cycle", "describe", "give_cycle", "give_cycle_concerns",
           "open_scenarios", "plan_stamp", "record_administration", "record_gcsf_decision", "start_course"]

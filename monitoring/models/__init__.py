"""NeutroWatch models, split by subject; import from here."""
from monitoring.models.alerts import Alert, AlertEvent, Delivery, Forecast, ForecastScore
from monitoring.models.care import ChemoAdministration, Cycle, GcsfDecision, LearnedPrior, Regimen, TreatmentCourse
from monitoring.models.duty import (
    AlertEscalation,
    DutyContact,
    EscalationChain,
    EscalationStep,
    EscalationTimer,
    RotaOverride,
    ShiftPattern,
    TeamDuty,
    TriageCall,
    TriageCallGrade,
    TriageSymptom,
)
from monitoring.models.exceptions import ImportException
from monitoring.models.ops import Heartbeat
from monitoring.models.people import Patient, RegistrationRequest, Team, User
from monitoring.models.records import AccessLog, ApiToken
from monitoring.models.results import CountResult, GcsfDose, TemperatureReading

__all__ = [
    "AccessLog",
    "Alert",
    "AlertEscalation",
    "AlertEvent",
    "ApiToken",
    "ChemoAdministration",
    "CountResult",
    "Cycle",
    "Delivery",
    "DutyContact",
    "EscalationChain",
    "EscalationStep",
    "EscalationTimer",
    "Forecast",
    "ForecastScore",
    "GcsfDecision",
    "GcsfDose",
    "Heartbeat",
    "ImportException",
    "LearnedPrior",
    "Patient",
    "RegistrationRequest",
    "Regimen",
    "RotaOverride",
    "ShiftPattern",
    "TemperatureReading",
    "Team",
    "TeamDuty",
    "TreatmentCourse",
    "TriageCall",
    "TriageCallGrade",
    "TriageSymptom",
    "User",
]

"""A cycle's forecast and its what-if scenarios as FHIR R4 RiskAssessment resources, in a searchset Bundle.

One RiskAssessment per forecast or scenario. ``prediction.outcome`` is grade 4 neutropenia (CTCAE
v5.0, ANC below 0.5 x10^9/L) in the cycle; ``probabilityDecimal`` is always a 0-1 fraction (R4's
comment allows percentages: we never send them); ``whenPeriod`` is the cycle's window (day 1 to the
next day 1; after a delay, the delayed window); ``basis`` names the counts, chemotherapy and G-CSF
administrations the forecast used; ``method`` the model; the scenario is in ``prediction.rationale``
in words and, machine-readable, in the extension ``SCENARIO_EXTENSION`` (valueCode: as_planned,
peg_day2, filgrastim, dose_80, delay_1w; "forecast" for the stored forecast).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from monitoring.forecasts.whatif.scenarios import CycleScenarios, ScenarioRow
from monitoring.models import ChemoAdministration, CountResult, Cycle, GcsfDose, Patient

SCENARIO_EXTENSION = "urn:neutrowatch:fhir:StructureDefinition:whatif-scenario"
MRN_SYSTEM = "urn:neutrowatch:mrn"
METHOD_TEXT = ("Friberg semi-mechanistic myelosuppression model with K-PD drug and G-CSF effects, "
               "individualised by Bayesian importance sampling (NeutroWatch forecasting kernel)")
OUTCOME_TEXT = "Grade 4 neutropenia in the cycle (ANC < 0.5 x10^9/L, CTCAE v5.0)"
ADVICE = ("What-if forecast for the clinician: it cannot know an infection, missed or extra doses, other "
          "drugs or a change in the patient's condition.")


def _iso(moment: datetime) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")


def _basis(patient: Patient, cycle: Cycle, as_of: datetime) -> list[dict]:
    """Return references to the counts, chemotherapy and G-CSF doses known at ``as_of`` (what the forecast read)."""
    refs = []
    for count in CountResult.objects.filter(patient=patient, collected_at__lte=as_of).order_by("collected_at", "pk"):
        refs.append({"type": "Observation", "identifier": {"system": "urn:neutrowatch:count", "value": str(count.pk)},
                     "display": f"ANC {count.anc_display} x10^9/L, {_iso(count.collected_at)}"})
    for dose in ChemoAdministration.objects.filter(cycle__course=cycle.course, given_at__lte=as_of).order_by(
            "given_at"):
        refs.append({"type": "MedicationAdministration",
                     "identifier": {"system": "urn:neutrowatch:chemotherapy", "value": str(dose.pk)},
                     "display": f"{cycle.course.regimen.code} dose {dose.dose_fraction} of protocol, "
                                f"{_iso(dose.given_at)}"})
    for dose in GcsfDose.objects.filter(patient=patient, given_at__lte=as_of).order_by("given_at"):
        refs.append({"type": "MedicationAdministration",
                     "identifier": {"system": "urn:neutrowatch:gcsf", "value": str(dose.pk)},
                     "display": f"{dose.product}, {_iso(dose.given_at)}"})
    return refs


def _resource(resource_id: str, patient: Patient, as_of: datetime, basis: list[dict], scenario: str,
              probability: float, start: datetime, end: datetime, rationale: str) -> dict:
    return {
        "resourceType": "RiskAssessment",
        "id": resource_id,
        "extension": [{"url": SCENARIO_EXTENSION, "valueCode": scenario}],
        "status": "final",
        "code": {"text": "Neutrophil nadir forecast"},
        "subject": {"identifier": {"system": MRN_SYSTEM, "value": patient.mrn}, "display": f"MRN {patient.mrn}"},
        "occurrenceDateTime": _iso(as_of),
        "method": {"text": METHOD_TEXT},
        "basis": basis,
        "prediction": [{"outcome": {"text": OUTCOME_TEXT}, "probabilityDecimal": round(float(probability), 3),
                        "whenPeriod": {"start": _iso(start), "end": _iso(end)}, "rationale": rationale}],
        "note": [{"text": ADVICE}],
    }


def _scenario_rationale(row: ScenarioRow, threshold: float) -> str:
    return (f"Scenario for cycle {row.cycle_number} ({row.cycle} cycle): {row.label}. Predicted nadir "
            f"{row.nadir_anc:g} x10^9/L (80 % band {row.nadir_lo80:g} to {row.nadir_hi80:g}) on day "
            f"{row.nadir_cycle_day}; expected days below 0.5 x10^9/L: {row.dsn_days:g}; P(ANC >= {threshold:g} "
            f"on the following day 1): {row.p_ready_next_day1:g}.")


def risk_assessment_bundle(patient: Patient, cycle: Cycle | None, scenarios: CycleScenarios | None) -> dict:
    """Return a searchset Bundle: the cycle's stored forecast, then every scenario (none without a cycle)."""
    entries = []
    forecast = getattr(cycle, "forecast", None) if cycle is not None else None
    if forecast is not None and forecast.p_grade4 is not None and not forecast.error:
        length = timedelta(days=cycle.course.regimen.cycle_length_days)
        rationale = (f"Forecast for cycle {cycle.number} as planned: nadir {forecast.nadir_anc_1e9_per_l:.3g} "
                     f"x10^9/L (80 % band {forecast.nadir_lo80:.3g} to {forecast.nadir_hi80:.3g}).")
        entries.append(_resource(f"cycle-{cycle.pk}-forecast", patient, forecast.as_of,
                                 _basis(patient, cycle, forecast.as_of), "forecast", forecast.p_grade4,
                                 cycle.day1, cycle.day1 + length, rationale))
    if scenarios is not None:
        basis = _basis(patient, scenarios.cycle, scenarios.as_of)
        for row in scenarios.rows:
            entries.append(_resource(f"cycle-{scenarios.cycle.pk}-{row.cycle}-{row.key}".replace("_", "-"),
                                     patient, scenarios.as_of, basis, row.key, row.p_grade4, row.window_start,
                                     row.window_end, _scenario_rationale(row, scenarios.threshold)))
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
            "entry": [{"fullUrl": f"urn:neutrowatch:risk-assessment:{e['id']}", "resource": e,
                       "search": {"mode": "match"}} for e in entries]}

"""Which patients an import may touch: MRNs to patients, and the importing user's or API token's teams."""

from __future__ import annotations

from dataclasses import dataclass

from monitoring.models import Patient

# MRNs, accessions and keys are looked up this many at a time (one query per chunk).
LOOKUP_CHUNK = 5000


@dataclass
class Scope:
    """Which patients the caller may write to; `reveal` says whether others are named as forbidden.

    The API reveals (it answers 403); a nurse's upload treats another team's patient as unknown.
    `home_team_id` is the team shown a record with an unknown MRN (the sender's team, if it has one).
    """

    team_ids: set[int] | None = None
    reveal: bool = True
    home_team_id: int | None = None
    sender: str = ""


def patients_by_mrn(mrns: set[str]) -> dict[str, Patient]:
    found = {}
    mrns = sorted(mrns)
    for start in range(0, len(mrns), LOOKUP_CHUNK):
        chunk = mrns[start:start + LOOKUP_CHUNK]
        for patient in Patient.objects.filter(mrn__in=chunk).only("id", "mrn", "team_id", "date_of_birth"):
            found[patient.mrn] = patient
    return found


def in_scope(patient: Patient | None, scope: Scope) -> bool:
    return patient is not None and (scope.team_ids is None or patient.team_id in scope.team_ids)

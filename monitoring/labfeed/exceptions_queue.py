"""The exceptions queue's write paths: fix, re-try and dismiss a record kept for review.

Who sees what: an administrator sees every exception. Anyone else sees the exceptions of her
teams' patients, and those with an unknown MRN that were sent to her team (an upload by a member,
a token of that team), that she uploaded herself, or whose MRN has since been registered in one of
her teams (so that she can re-try them). Any other unknown MRN from the command line or the MLLP
feed has no team: only administrators see it (it may name a patient of any team).

A fix or re-try stores the record through the importer's normal write path, with the fixer's
teams as the scope, so a nurse can never store a result for another team's patient this way.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from monitoring import alerts
from monitoring.labfeed import importers
from monitoring.labfeed.importers import csv_format
from monitoring.labfeed.importers.common import import_parsed
from monitoring.labfeed.importers.records import ImportReport
from monitoring.labfeed.importers.scope import Scope
from monitoring.models import ImportException, Patient

# The fix form's fields, in the CSV import's column names.
FIX_COLUMNS = (
    "mrn", "collected_at", "anc", "wbc", "neutrophil_pct", "band_pct", "platelets", "unit", "accession", "status",
    "temperature", "temperature_unit", "temperature_site", "gcsf_product", "gcsf_dose", "gcsf_dose_unit",
    "gcsf_route",
)


def is_admin(user) -> bool:
    return getattr(user, "is_administrator", False)  # an anonymous user has no role


def visible_exceptions(user) -> QuerySet[ImportException]:
    """Return the exceptions this user may see (see the module docstring)."""
    found = ImportException.objects.select_related("patient", "team")
    if not user.is_authenticated:
        return found.none()
    if is_admin(user):
        return found
    teams = user.teams.all()
    registered_since = Patient.objects.filter(team__in=teams).values("mrn")
    return found.filter(Q(patient__team__in=teams) | Q(patient__isnull=True, team__in=teams)
                        | Q(patient__isnull=True, received_by=user) | Q(patient__isnull=True, mrn__in=registered_since))


def open_for_patient(patient) -> QuerySet[ImportException]:
    """Return a patient's open exceptions, with those that arrived before the MRN was registered."""
    return ImportException.objects.filter(Q(patient=patient) | Q(patient__isnull=True, mrn=patient.mrn),
                                          status=ImportException.Status.OPEN)


def open_count(user) -> int:
    return visible_exceptions(user).filter(status=ImportException.Status.OPEN).count()


def scope_for(user) -> Scope:
    """Where a fix by this user may store results: her teams' patients (an administrator's too)."""
    team_ids = set(user.teams.values_list("pk", flat=True))
    return Scope(team_ids=team_ids, reveal=False, home_team_id=next(iter(team_ids)) if len(team_ids) == 1 else None,
                 sender=f"fixed by {user.get_username()}")


@dataclass
class Outcome:
    done: bool
    report: ImportReport | None = None
    message: str = ""


def values_as_csv(values: dict[str, str]) -> str:
    """Return one CSV row (with header) of the fix form's values: the import format's own columns."""
    columns = [c for c in FIX_COLUMNS if (values.get(c) or "").strip()]
    for required in ("mrn", "collected_at"):
        if required not in columns:
            columns.insert(0, required)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow([(values.get(c) or "").strip() for c in columns])
    return out.getvalue()


def fix(exception_id: int, values: dict[str, str], user) -> Outcome:
    """Store a kept record with corrected values through the normal import path; close it as fixed."""
    text = values_as_csv(values)

    def store(exception: ImportException) -> ImportReport:
        return import_parsed(f"fix of exception {exception.pk}", "csv", csv_format.parse(text),
                             source=exception.source, user=user, scope=scope_for(user), all_or_nothing=True,
                             quarantine=False, delta_check=False)  # a person has checked these values

    return _resolve(exception_id, user, store, note="fixed: " + text.splitlines()[-1])


def retry(exception_id: int, user) -> Outcome:
    """Import the record again as received (e.g. after registering its MRN); close it if it is stored now."""

    def store(exception: ImportException) -> ImportReport:
        return importers.import_file(f"re-try of exception {exception.pk}", exception.raw, source=exception.source,
                                     fmt=exception.format, user=user, scope=scope_for(user), all_or_nothing=True,
                                     quarantine=False)

    return _resolve(exception_id, user, store, note="re-tried: stored as received")


def dismiss(exception_id: int, user, reason: str) -> Outcome:
    """Close an exception without storing anything; the reason is required and kept in its history."""
    reason = (reason or "").strip()
    if not reason:
        return Outcome(False, message="Give a reason for dismissing it.")
    with transaction.atomic():
        exception = _locked_open(exception_id, user)
        if exception is None:
            return Outcome(False, message="It is no longer open.")
        _close(exception, ImportException.Status.DISMISSED, user, reason)
    return Outcome(True, message="Dismissed.")


def _resolve(exception_id: int, user, store, note: str) -> Outcome:
    with transaction.atomic():
        exception = _locked_open(exception_id, user)
        if exception is None:
            return Outcome(False, message="It is no longer open.")
        report = store(exception)
        if report.refused or not report.ok:
            return Outcome(False, report, "Not stored: " + "; ".join(f"{p.field}: {p.reason}" for p in report.problems))
        _close(exception, ImportException.Status.FIXED, user, f"{note} ({report.summary()})")
    return Outcome(True, report, "Stored." if report.changed else "Already stored: nothing new.")


def _locked_open(exception_id: int, user) -> ImportException | None:
    visible = visible_exceptions(user).filter(pk=exception_id).values("pk")
    return (ImportException.objects.select_for_update()
            .filter(pk__in=visible, status=ImportException.Status.OPEN).first())


def _close(exception: ImportException, status: str, user, note: str) -> None:
    exception.status = status
    exception.resolved_by = user
    exception.resolved_at = timezone.now()
    exception.resolution_note = note[:2000]
    exception._change_reason = f"{status} by {user.get_username()}"
    exception.save()
    alerts.evaluate_held([exception.patient_id])  # its "count held for review" alert, if any, goes
    alerts.resolve_unregistered(exception.pk)  # and so does an unregistered MRN's alert

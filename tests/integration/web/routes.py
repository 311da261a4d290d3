"""Every project route with its parameters filled in, and one team's objects to fill them with."""

from __future__ import annotations

import re
from decimal import Decimal

from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from monitoring import clinical, records
from monitoring.labfeed import importers
from monitoring.models import Alert
from tests.conftest import start_on_regimen


def project_routes() -> list[tuple[str, str, list[str]]]:
    """Return (name, route, parameter names) for every non-admin URL pattern of the project."""
    found = []

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if entry.app_name == "admin":
                    continue
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                found.append((entry.name, route, re.findall(r"<(?:\w+:)?(\w+)>", route)))

    walk(get_resolver().url_patterns)
    return found


def fill(route: str, value: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?\w+>", value, route).lstrip("^").rstrip("$")


def team_objects(patient, regimens):
    """One object of each kind a URL can point at, all belonging to `patient`'s team."""
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=8)
    count = records.record_count(
        patient, clinical.parse_count(collected_at=timezone.now(), unit="10^9/L", anc=Decimal("0.4"))
    )
    # The grade 4 alert is raised by saving the count (the observed rules run at save time).
    alert = Alert.objects.get(patient=patient, cycle=cycle, kind=Alert.Kind.GRADE4_OBSERVED)
    from monitoring.models import ImportException

    importers.import_file("lab.csv", f"mrn,collected_at,anc,unit\n{patient.mrn},{timezone.now():%Y-%m-%dT%H:%M}Z,abc,"
                          "10^9/L\n", source="import")
    kept = ImportException.objects.get(patient=patient)
    from monitoring.models import TriageCall

    call = TriageCall.objects.create(patient=patient, called_at=timezone.now(), outcome="call_back",
                                     follow_up_due=timezone.now())
    return {"patients": patient.pk, "counts": count.pk, "cycles": cycle.pk, "alerts": alert.pk, "import": kept.pk,
            "teams": patient.team_id, "triage": call.pk, "courses": cycle.course_id}

"""Print patients' results as CSV in the import format (ANC in 10^9/L), so data leaves as it came in."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from monitoring import clinical, spreadsheet
from monitoring.labfeed.importers.csv_format import EXPORT_COLUMNS
from monitoring.models import AccessLog, CountResult, GcsfDose, Patient, TemperatureReading


class Command(BaseCommand):
    help = "Export results as import-format CSV: one patient (--mrn) or every patient the command may see."

    def add_arguments(self, parser):
        parser.add_argument("--mrn", action="append", help="Export this patient (repeatable). Default: all.")
        parser.add_argument("--user", help="Export as this user: only their teams' patients, logged in their name.")

    def handle(self, *args, mrn=None, user=None, **options):
        patients = self._patients(mrn, user)
        writer = spreadsheet.writer(self.stdout, lineterminator="\n")  # no cell a spreadsheet runs
        writer.writerow(EXPORT_COLUMNS)
        for patient in patients:
            # By the moment, not the text: across the autumn clock change 01:10+00:00 is after 01:30+01:00.
            for row in sorted(_rows(patient), key=lambda r: datetime.fromisoformat(r["collected_at"])):
                writer.writerow([row.get(column, "") for column in EXPORT_COLUMNS])
        AccessLog.objects.bulk_create(
            AccessLog(patient=patient, user=user and self.user, action=AccessLog.Action.EXPORT,
                      path="manage.py export_results")
            for patient in patients
        )

    def _patients(self, mrns: list[str] | None, username: str | None) -> list[Patient]:
        patients = Patient.objects.order_by("mrn")
        if username:
            try:
                self.user = get_user_model().objects.get(username=username)
            except get_user_model().DoesNotExist:
                raise CommandError(f"no user {username!r}") from None
            patients = Patient.objects.visible_to(self.user).order_by("mrn")
        if mrns:
            patients = patients.filter(mrn__in=mrns)
            missing = set(mrns) - {p.mrn for p in patients}
            if missing:
                raise CommandError(f"unknown MRN: {', '.join(sorted(missing))}")
        return list(patients)


def _time(moment) -> str:
    return timezone.localtime(moment).isoformat()


def _rows(patient: Patient):
    for count in CountResult.objects.filter(patient=patient):
        yield {
            # As received: a censored value is "<0.1", never its bound alone (issue 21 item 9).
            "mrn": patient.mrn, "collected_at": _time(count.collected_at), "anc": count.anc_display,
            "wbc": "" if count.wbc_1e9_per_l is None else count.wbc_1e9_per_l,
            "neutrophil_pct": "" if count.neutrophil_pct is None else count.neutrophil_pct,
            "band_pct": "" if count.band_pct is None else count.band_pct,
            "platelets": "" if count.platelets_1e9_per_l is None else count.platelets_1e9_per_l,
            "unit": clinical.UNIT_1E9_PER_L, "accession": count.accession,
        }
    for reading in TemperatureReading.objects.filter(patient=patient):
        yield {
            "mrn": patient.mrn, "collected_at": _time(reading.taken_at), "temperature": reading.temperature_c,
            "temperature_unit": "C", "temperature_site": reading.site, "accession": reading.external_id,
        }
    for dose in GcsfDose.objects.filter(patient=patient):
        yield {
            "mrn": patient.mrn, "collected_at": _time(dose.given_at), "gcsf_product": dose.product_name or dose.product,
            "gcsf_dose": dose.dose, "gcsf_dose_unit": dose.dose_unit, "gcsf_route": dose.route,
            "accession": dose.external_id,
        }

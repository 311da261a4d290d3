"""The cost of saving one result, and the save-time rules that read shared data.

A save reads the patient's cycles once (locked) for both the forecasts it bumps and the observed
rules, the measurements in one query and the alerts in one. These tests pin the query counts,
so that the save path cannot quietly grow back, and check that the rules still see what they
need: the forecast when a fever is on record, the other cycles' febrile-neutropenia alerts.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring import alerts, clinical, records, treatment
from monitoring.models import Alert, Forecast
from monitoring.models.results import Source
from tests.conftest import make_patient, start_on_regimen

pytestmark = pytest.mark.django_db

# In the test's transaction, so without BEGIN and COMMIT (a real save adds those two).
RECORD_COUNT_QUERIES = 9  # savepoint, duplicates, insert, history, cycles (locked), versions, measurements,
#                           alerts, release
RECORD_BATCH_QUERIES = 6  # insert, history, cycles (locked), versions, measurements, alerts
RAISING_AN_ALERT = 6  # the alert, its history row (issue 25), the team's members, the deliveries, the teams'
#                       escalation chains (issue 24), its AlertEvent (issue 21)


def count(hours_ago: float, anc: str, accession: str = ""):
    return clinical.parse_count(collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L",
                                anc=Decimal(anc), accession=accession)


def batch(patients, anc: str = "2.0", tag: str = "b") -> records.ResultBatch:
    return records.ResultBatch([(p, count(3, anc, f"{tag}-{p.pk}")) for p in patients], [], [], [], [])


def queries(save, *args, **kwargs) -> int:
    with CaptureQueriesContext(connection) as captured:
        save(*args, **kwargs)
    return len(captured)


def test_saving_one_count_runs_nine_queries(cycle, patient, django_assert_max_num_queries):
    records.record_count(patient, count(30, "2.0", "earlier"))
    with django_assert_max_num_queries(RECORD_COUNT_QUERIES):
        records.record_count(patient, count(2, "1.8", "new"))


def test_a_grade4_count_raises_its_alert_with_four_queries_more(cycle, patient, django_assert_max_num_queries):
    with django_assert_max_num_queries(RECORD_COUNT_QUERIES + RAISING_AN_ALERT):
        records.record_count(patient, count(2, "0.3", "g4"))
    assert Alert.objects.get(cycle=cycle, kind=Alert.Kind.GRADE4_OBSERVED).severity == Alert.Severity.CRITICAL


def test_an_imported_count_runs_six_queries_whatever_the_patients_history(patient, regimens,
                                                                          django_assert_max_num_queries):
    cycle = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=70, n_cycles=8)
    for number in (2, 3, 4):
        treatment.give_cycle(cycle.course.cycles.get(number=number), cycle.day1 + timedelta(days=21 * (number - 1)))
    records.record_counts(patient, [count(24 * day, "1.5", f"old-{day}") for day in range(1, 40)])
    with django_assert_max_num_queries(RECORD_BATCH_QUERIES):
        records.record_batch(batch([patient]), source=Source.MLLP)


def test_an_import_runs_the_same_queries_for_one_patient_or_twenty(team, regimens):
    patients = [make_patient(team, mrn=f"Q{n:03d}") for n in range(21)]
    for patient in patients:
        start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=6)
    one = queries(records.record_batch, batch(patients[:1]), source=Source.MLLP)
    twenty = queries(records.record_batch, batch(patients[1:]), source=Source.MLLP)
    assert one == twenty == RECORD_BATCH_QUERIES


def _forecast_falling_below_05(cycle) -> Forecast:
    """Store a forecast whose 80 % band goes below 0.5 x10^9/L in the next 24 hours."""
    now = timezone.now()
    trajectory = [{"time": timezone.localtime(now + timedelta(hours=h)).replace(tzinfo=None).isoformat(),
                   "anc": anc, "lo80": lo80, "hi80": 2.5} for h, anc, lo80 in ((0, 1.2, 0.7), (12, 0.9, 0.45),
                                                                               (24, 0.7, 0.3))]
    return Forecast.objects.create(cycle=cycle, input_version=0, inputs_digest="test", computed_at=now, as_of=now,
                                   trajectory=trajectory)


def _fever(patient, minutes_ago: float = 10):
    return records.record_temperature(patient, taken_at=timezone.now() - timedelta(minutes=minutes_ago),
                                       temperature_c=Decimal("38.6"), entered_value="38.6", entered_unit="C")


def test_a_fever_saved_with_a_forecast_falling_below_05_is_febrile_neutropenia(cycle, patient):
    records.record_count(patient, count(3, "1.5", "before"))  # not neutropenic by count (>= 1.0)
    _forecast_falling_below_05(cycle)
    _fever(patient)
    alert = Alert.objects.get(cycle=cycle, kind=Alert.Kind.FEBRILE_NEUTROPENIA, resolved_at__isnull=True)
    assert alert.severity == Alert.Severity.CRITICAL and "predicted_lo80_1e9_per_l" in alert.evidence


def test_a_count_saved_after_a_fever_still_reads_the_forecast(cycle, patient):
    _fever(patient, minutes_ago=60)  # no count yet: fever with unknown ANC
    assert Alert.objects.filter(cycle=cycle, kind=Alert.Kind.FEVER_UNKNOWN_ANC).exists()
    _forecast_falling_below_05(cycle)
    records.record_count(patient, count(0.5, "1.5", "after"))
    assert Alert.objects.filter(cycle=cycle, kind=Alert.Kind.FEBRILE_NEUTROPENIA, resolved_at__isnull=True).exists()


def test_without_the_forecast_the_same_fever_is_fever_on_chemotherapy(cycle, patient):
    records.record_count(patient, count(3, "1.5", "before"))
    _fever(patient)
    assert not Alert.objects.filter(kind=Alert.Kind.FEBRILE_NEUTROPENIA).exists()
    alert = Alert.objects.get(cycle=cycle, kind=Alert.Kind.FEVER_UNKNOWN_ANC)
    assert alert.severity == Alert.Severity.HIGH  # a count of 1.0 or more in the last 24 h


def test_a_save_sees_a_febrile_neutropenia_alert_of_an_earlier_cycle(patient, regimens):
    """Secondary G-CSF prophylaxis needs the FN alerts of other cycles: read with the save's alerts."""
    from monitoring import treatment

    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=25)
    cycle2 = cycle1.course.cycles.get(number=2)
    treatment.give_cycle(cycle2, timezone.now() - timedelta(days=4))
    Alert.objects.create(patient=patient, cycle=cycle1, kind=Alert.Kind.FEBRILE_NEUTROPENIA,
                         severity=Alert.Severity.CRITICAL, message="FN", raised_at=timezone.now(),
                         resolved_at=timezone.now())
    loaded = alerts.PatientAlerts.load([patient.pk])
    assert loaded.fn_cycle_ids == {patient.pk: {cycle1.pk}}
    results = alerts.load_results([patient.pk], timezone.now() - timedelta(days=40), timezone.now())
    assert results[patient.pk].fn_cycle_ids == {cycle1.pk}
    cycle2.refresh_from_db()
    facts = alerts.cycle_facts(cycle2, None, timezone.now())
    assert facts.prior_febrile_neutropenia


def test_measurements_come_back_as_stored(cycle, patient):
    """One UNION query reads the four tables: values keep their own column's decimal places."""
    from monitoring import records

    records.record_count(patient, count(2, "0.45", "m1"))
    _fever(patient)
    records.record_gcsf(patient, product="filgrastim", dose=Decimal("300"), dose_unit="ug",
                         given_at=timezone.now() - timedelta(hours=1))
    results = alerts.load_measurements([patient.pk], timezone.now() - timedelta(days=10), timezone.now())[patient.pk]
    assert [str(c.anc_1e9_per_l) for c in results.counts] == ["0.450"]
    assert [str(t.temperature_c) for t in results.temperatures] == ["38.60"]
    assert [d.product for d in results.gcsf] == ["filgrastim"]
    assert [cycle_id for cycle_id, _ in results.chemo] == [cycle.pk]

"""Issue 11, the safety net: what has been observed reaches a nurse with the broker dead and no worker.

Scenarios S1 to S6 of the issue: results arrive through the `import_results` CSV
command while the broker URL points where nothing listens and no worker runs. The observed
rules run inside the import's transaction, so the alert is there when the command returns.
These tests run on PostgreSQL and on SQLite alike.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from monitoring import alerts, clinical, forecasts, records, treatment
from monitoring.models import Alert, Delivery
from tests.conftest import make_user, start_on_regimen

pytestmark = pytest.mark.django_db





@pytest.fixture
def import_csv(tmp_path, broker_dead, django_capture_on_commit_callbacks):
    """Import CSV rows through the management command, running its on-commit work (publishing)."""

    def run(*rows: str) -> None:
        path = tmp_path / f"results-{len(list(tmp_path.iterdir()))}.csv"
        header = "mrn,collected_at,anc,unit,accession,temperature,temperature_unit"
        path.write_text("\n".join([header, *rows]) + "\n")
        with django_capture_on_commit_callbacks(execute=True):
            call_command("import_results", str(path))

    return run


def at(delta: timedelta) -> str:
    return (timezone.now() + delta).isoformat(timespec="seconds")


def open_critical(patient) -> list[Alert]:
    return list(Alert.objects.filter(patient=patient, severity=Alert.Severity.CRITICAL, resolved_at__isnull=True,
                                     acknowledged_at__isnull=True))


@pytest.fixture
def team_nurses(team, nurse):
    """The responsible nurse and two colleagues on the same team."""
    return [nurse, make_user("colleague_a", [team]), make_user("colleague_b", [team])]


def test_s1_a_count_of_031_in_a_running_cycle_is_an_open_critical_alert_for_the_whole_team(
        import_csv, cycle, patient, team_nurses):
    import_csv(f"MRN001,{at(-timedelta(hours=1))},0.31,10^9/L,S1-1,,")
    [alert] = open_critical(patient)
    assert (alert.kind, alert.cycle_id) == (Alert.Kind.GRADE4_OBSERVED, cycle.pk)
    inapp = alert.deliveries.filter(channel=Delivery.Channel.INAPP)
    assert {d.recipient for d in inapp} == {n.username for n in team_nurses}
    assert {d.status for d in inapp} == {Delivery.Status.SENT}  # in-app needs no broker
    emails = alert.deliveries.filter(channel=Delivery.Channel.EMAIL)
    assert {d.recipient for d in emails} == {"nurse@example.org", "charge.nurse@example.org"}
    assert {d.status for d in emails} == {Delivery.Status.PENDING}  # left for the sweep: broker is dead


@pytest.mark.parametrize("order", ["in time order", "out of order"])
def test_s2_030_then_062_six_hours_later_keeps_the_critical_alert_open(import_csv, cycle, patient, order):
    rows = [f"MRN001,{at(-timedelta(hours=8))},0.30,10^9/L,S2-1,,",
            f"MRN001,{at(-timedelta(hours=2))},0.62,10^9/L,S2-2,,"]
    import_csv(*(rows if order == "in time order" else rows[::-1]))
    [alert] = open_critical(patient)
    assert alert.kind == Alert.Kind.GRADE4_OBSERVED and alert.evidence["anc_1e9_per_l"] == "0.300"
    assert alert.cleared_at is not None  # "condition cleared at" the 0.62, still open
    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.GRADE3_OBSERVED).exists()


def test_s2_in_two_files_the_062_does_not_resolve_the_open_alert(import_csv, cycle, patient):
    import_csv(f"MRN001,{at(-timedelta(hours=8))},0.30,10^9/L,S2B-1,,")
    import_csv(f"MRN001,{at(-timedelta(hours=2))},0.62,10^9/L,S2B-2,,")
    [alert] = open_critical(patient)
    assert alert.cleared_at is not None
    alerts.sweep()  # nor does the sweep, nor escalation stop
    assert alerts.escalate_due(timezone.now() + timedelta(minutes=31)) == 1
    assert open_critical(patient) == [alert]


def test_s3_a_fever_of_386_with_no_count_for_4_days_is_an_open_critical_alert(import_csv, patient, regimens):
    cycle = start_on_regimen(patient, regimens["TAC-Q3W"], days_ago=8)
    import_csv(f"MRN001,{at(-timedelta(days=4))},2.1,10^9/L,S3-1,,")
    import_csv(f"MRN001,{at(-timedelta(minutes=10))},,,,38.6,C")
    [alert] = open_critical(patient)
    assert (alert.kind, alert.cycle_id) == (Alert.Kind.FEVER_UNKNOWN_ANC, cycle.pk)
    assert ("fever in a patient on chemotherapy: treat as possible neutropenic sepsis, urgent FBC and "
            "assessment") in alert.message


def test_s6_a_pre_dose_040_before_a_passed_day1_not_given_is_an_open_critical_alert(import_csv, patient, regimens):
    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=21 + 0.5 / 24)
    cycle2 = cycle1.course.cycles.get(number=2)  # planned day 1 passed 30 minutes ago, not given
    import_csv(f"MRN001,{at(-timedelta(hours=2, minutes=30))},0.40,10^9/L,S6-1,,")
    [alert] = open_critical(patient)
    assert (alert.kind, alert.cycle_id) == (Alert.Kind.GRADE4_OBSERVED, cycle2.pk)  # graded in the coming cycle
    alerts.sweep()
    forecasts.recompute_cycle(cycle1.pk)
    forecasts.recompute_cycle(cycle2.pk)
    assert open_critical(patient) == [alert]


# --- Around the scenarios -------------------------------------------------------------------------

def test_a_patient_with_no_active_cycle_still_gets_an_observed_alert(import_csv, patient):
    import_csv(f"MRN001,{at(-timedelta(hours=3))},0.2,10^9/L,NC-1,,")
    import_csv(f"MRN001,{at(-timedelta(hours=1))},0.1,10^9/L,NC-2,,")
    [alert] = open_critical(patient)
    assert alert.cycle is None and alert.kind == Alert.Kind.GRADE4_OBSERVED


def test_a_count_before_any_cycle_is_alerted_on_the_patient_and_not_twice(import_csv, patient, regimens):
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=-10, give=False)  # starts in 10 days
    import_csv(f"MRN001,{at(-timedelta(hours=1))},0.3,10^9/L,BC-1,,")
    [alert] = open_critical(patient)
    assert alert.cycle is None


def test_deleting_the_count_marks_the_critical_alert_cleared_but_keeps_it_open(cycle, patient, nurse):
    count = records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=1), unit="10^9/L", anc=Decimal("0.2")))
    records.delete_result(count)
    [alert] = open_critical(patient)
    assert alert.cleared_at is not None
    alerts.acknowledge_alert(alert.pk, nurse, "entered in error")
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_fever_reading_of_381_asks_for_a_recheck_that_makes_it_febrile_neutropenia(cycle, patient, settings):
    # IDSA alone (a local policy): under the default, 38.1 C is NICE's fever at once.
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "FEVER_POLICY": "idsa"}
    records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=5), unit="10^9/L", anc=Decimal("0.8")))
    reading = dict(entered_value="38.1", entered_unit="C")
    records.record_temperature(patient, taken_at=timezone.now() - timedelta(minutes=40),
                                temperature_c=Decimal("38.1"), **reading)
    recheck = Alert.objects.get(patient=patient, kind=Alert.Kind.FEVER_RECHECK)
    assert recheck.severity == Alert.Severity.MEDIUM
    records.record_temperature(patient, taken_at=timezone.now(), temperature_c=Decimal("38.2"), **reading)
    recheck.refresh_from_db()
    assert recheck.resolved_at is not None
    assert Alert.objects.get(patient=patient, kind=Alert.Kind.FEBRILE_NEUTROPENIA).resolved_at is None


def test_nice_fever_policy_is_a_setting(cycle, patient, settings):
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "FEVER_POLICY": "nice"}
    records.record_temperature(patient, taken_at=timezone.now(), temperature_c=Decimal("38.1"),
                                entered_value="38.1", entered_unit="C")
    alert = Alert.objects.get(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC)
    assert alert.evidence["fever_policy"] == "nice"


def test_pegfilgrastim_on_the_day_of_chemo_is_flagged_at_save_time(patient, regimens):
    cycle = start_on_regimen(patient, regimens["TAC-Q3W"], days_ago=0.5)
    records.record_gcsf(patient, product="pegfilgrastim", dose=Decimal("6"), dose_unit="mg",
                         given_at=timezone.now() - timedelta(hours=1))
    alert = Alert.objects.get(cycle=cycle, kind=Alert.Kind.GCSF_TIMING)
    assert alert.severity == Alert.Severity.MEDIUM and "14 days before to 24 h after" in alert.message


def test_critical_email_goes_to_the_responsible_nurse_and_escalation_contact_at_once(cycle, patient, team_nurses,
                                                                                      django_capture_on_commit_callbacks):
    from neutrowatch.celery import app

    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            records.record_count(patient, clinical.parse_count(
                collected_at=timezone.now(), unit="10^9/L", anc=Decimal("0.1")))
    finally:
        app.conf.task_always_eager = False
    assert sorted(m.to[0] for m in mail.outbox) == ["charge.nurse@example.org", "nurse@example.org"]


def test_a_delayed_cycle_stays_the_current_cycle_until_given(patient, regimens):
    from monitoring.models.care import current_cycle_of

    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=22)
    cycle2 = cycle1.course.cycles.get(number=2)
    treatment.delay_cycle(cycle2, timezone.now() + timedelta(days=6), "ANC 0.9 on day 1")
    cycles = list(cycle1.course.cycles.select_related("course__regimen"))
    assert current_cycle_of(cycles, timezone.now()).number == 2
    assert current_cycle_of(cycles, timezone.now() + timedelta(days=10)).number == 2  # overdue, still waiting


def test_manage_py_check_warns_about_a_team_without_escalation_contact(other_team):
    from django.core import checks

    messages = [m for m in checks.run_checks() if m.id == "monitoring.W001"]
    assert [m.obj for m in messages] == [other_team]
    assert "escalation" in messages[0].msg


def test_an_acknowledged_cleared_alert_is_not_raised_again_for_the_same_count(import_csv, cycle, patient, nurse):
    import_csv(f"MRN001,{at(-timedelta(hours=2))},0.62,10^9/L,AK-2,,",
               f"MRN001,{at(-timedelta(hours=8))},0.30,10^9/L,AK-1,,")
    [alert] = open_critical(patient)
    alerts.acknowledge_alert(alert.pk, nurse, "Seen; recovered")
    alerts.sweep()
    forecasts.recompute_cycle(cycle.pk)
    assert Alert.objects.filter(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED).count() == 1
    assert open_critical(patient) == []


def test_s4_a_censored_count_below_01_is_stored_and_an_open_critical_alert(import_csv, cycle, patient):
    import_csv(f"MRN001,{at(-timedelta(hours=1))},<0.1,10^9/L,S4-1,,")
    count = patient.counts.get()
    assert (count.qualifier, count.anc_1e9_per_l, count.ctcae_grade) == ("<", Decimal("0.100"), 4)
    [alert] = open_critical(patient)
    assert (alert.kind, alert.cycle_id) == (Alert.Kind.GRADE4_OBSERVED, cycle.pk)


def test_s5_an_unreadable_anc_keeps_out_only_its_own_row(import_csv, cycle, patient, team, regimens):
    from django.core.management.base import CommandError

    from monitoring.models import ImportException
    from tests.conftest import make_patient

    other = make_patient(team, mrn="MRN002", given_name="Bea")
    other_cycle = start_on_regimen(other, regimens["DOCETAXEL-75-Q3W"], days_ago=9)
    with pytest.raises(CommandError, match=r"1 record\(s\) kept for review"):
        import_csv(f"MRN001,{at(-timedelta(hours=2))},0..3,10^9/L,S5-1,,",
                   f"MRN002,{at(-timedelta(hours=2))},0.35,10^9/L,S5-2,,")
    assert not patient.counts.exists()
    assert other.counts.get().anc_1e9_per_l == Decimal("0.350")
    [alert] = open_critical(other)
    assert (alert.kind, alert.cycle_id) == (Alert.Kind.GRADE4_OBSERVED, other_cycle.pk)
    kept = ImportException.objects.get()
    assert kept.mrn == "MRN001" and "'0..3' is not a number" in kept.problems_text


def test_day2_pegfilgrastim_in_dose_dense_ac_is_not_flagged_when_the_next_cycle_is_given(patient, regimens):
    cycle = start_on_regimen(patient, regimens["DDAC-Q2W"], days_ago=14)
    records.record_gcsf(patient, product="pegfilgrastim", dose=Decimal("6"), dose_unit="mg",
                         given_at=cycle.day1 + timedelta(hours=26))
    treatment.give_cycle(cycle.course.cycles.get(number=2), timezone.now())  # 13 days after the dose
    alerts.sweep()
    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.GCSF_TIMING).exists()

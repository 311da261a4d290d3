"""Rotas, chains and timers in-process (PostgreSQL and SQLite): who is on duty, who each step tells.

The auditor (`timers.fire_due`) is called with explicit moments, as beat would call it then; the
live tests (test_duty_live.py) run it in a real worker and beat.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from monitoring import alerts, clinical, records
from monitoring.alerts import chain_hooks as hooks
from monitoring.alerts import chains, timers
from monitoring.duty import rota
from monitoring.models import (
    Alert,
    Delivery,
    EscalationTimer,
    RotaOverride,
    ShiftPattern,
    TeamDuty,
    User,
)
from monitoring.models.duty import DutyRole, StepTarget
from tests.conftest import make_patient, make_user
from tests.integration.alerts.chains import chain

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2026, 12, 7, tzinfo=LONDON)  # a Monday in winter (GMT)


def at(day_offset: int, clock: str) -> datetime:
    hour, minute = map(int, clock.split(":"))
    return MONDAY + timedelta(days=day_offset, hours=hour, minutes=minute)


def day_and_night(team, day_person, night_person, registrar=None) -> None:
    """Weekday days 08:00-18:00 for one person, every night 18:00-08:00 for another."""
    for weekday in range(7):
        if weekday < 5:
            ShiftPattern.objects.create(team=team, user=day_person, weekday=weekday, starts=time(8), ends=time(18))
        ShiftPattern.objects.create(team=team, user=night_person, weekday=weekday, starts=time(18), ends=time(8))
        if registrar is not None:
            ShiftPattern.objects.create(team=team, user=registrar, role=DutyRole.REGISTRAR, weekday=weekday,
                                        starts=time(0), ends=time(0))




@pytest.fixture
def unit(team):
    """A day unit: 'dayn' on weekdays, 'nightn' overnight, 'reg' the registrar around the clock."""
    people = {name: make_user(name, [team]) for name in ("dayn", "nightn", "reg")}
    day_and_night(team, people["dayn"], people["nightn"], people["reg"])
    return people


def raise_alert(patient, moment: datetime, severity=Alert.Severity.CRITICAL, kind=Alert.Kind.GRADE4_OBSERVED) -> Alert:
    """An alert raised at `moment`, with the raise hook the alert code calls."""
    alert = Alert.objects.create(patient=patient, kind=kind, severity=severity, message="test", raised_at=moment)
    hooks.alerts_raised([alert], moment)
    return alert


def told(alert, step: int, channel=Delivery.Channel.INAPP) -> list[str]:
    return sorted(Delivery.objects.filter(alert=alert, timer__step=step, channel=channel)
                  .values_list("recipient", flat=True))


def test_handover_at_18_00_routes_17_59_and_18_01_to_different_people(team, unit):
    chain(team, Alert.Severity.HIGH, [(0, StepTarget.ON_DUTY)])
    before = raise_alert(make_patient(team, mrn="A1"), at(0, "17:59"))
    after = raise_alert(make_patient(team, mrn="A2"), at(0, "18:01"))
    timers.fire_due(at(0, "18:02"))
    assert told(before, 0) == ["dayn"]
    assert told(after, 0) == ["nightn"]
    assert [d.user.username for d in rota.on_duty(team, at(0, "18:00"))] == ["nightn", "reg"]  # [start, end)


def test_night_shift_runs_into_the_next_morning_and_says_until_when(team, unit):
    duties = rota.on_duty(team, at(1, "07:59"))  # Tuesday morning: Monday's night shift
    assert [(d.user.username, d.role) for d in duties] == [("nightn", "nurse"), ("reg", "registrar")]
    assert duties[0].until == at(1, "08:00")
    assert [d.user.username for d in rota.on_duty(team, at(5, "10:00"))] == ["reg"]  # Saturday day: nobody


def test_on_duty_is_one_query(team, unit, django_assert_num_queries):
    with django_assert_num_queries(1):
        rota.on_duty(team, at(0, "10:00"))


def test_a_swap_replaces_the_rostered_person_for_its_hours_only(team, unit):
    cover = make_user("cover", [team])
    RotaOverride.objects.create(team=team, user=cover, starts_at=at(0, "12:00"), ends_at=at(0, "14:00"),
                                replaces=unit["dayn"], reason="annual leave")
    assert [d.user.username for d in rota.on_duty(team, at(0, "13:00"))] == ["cover", "reg"]
    assert rota.on_duty(team, at(0, "13:00"))[0].until == at(0, "14:00")
    assert [d.user.username for d in rota.on_duty(team, at(0, "14:00"))] == ["dayn", "reg"]


def test_a_chain_tells_each_step_in_order_and_stops_at_acknowledgement(team, unit):
    chain(team, Alert.Severity.CRITICAL, [(0, StepTarget.ON_DUTY), (10, StepTarget.REGISTRAR),
                                          (10, StepTarget.TEAM)])
    alert = raise_alert(make_patient(team), at(0, "10:00"))
    assert timers.fire_due(at(0, "10:00")) == 1 and told(alert, 0) == ["dayn"]
    assert timers.fire_due(at(0, "10:09")) == 0
    assert timers.fire_due(at(0, "10:10")) == 1 and told(alert, 1) == ["reg"]
    alerts.acknowledge_alert(alert.pk, unit["reg"], "seen", now=at(0, "10:12"))
    assert timers.fire_due(at(0, "11:00")) == 0
    assert told(alert, 2) == []
    last = EscalationTimer.objects.get(alert=alert, step=2)
    assert last.fired_at is None and last.cancelled_at == at(0, "10:12")


def test_each_step_fires_once_however_often_the_auditor_runs(team, unit):
    chain(team, Alert.Severity.CRITICAL, [(0, StepTarget.ON_DUTY), (5, StepTarget.REGISTRAR)], repeat_times=1,
          repeat_after=5)
    alert = raise_alert(make_patient(team), at(0, "10:00"))
    for minute in range(0, 30):
        timers.fire_due(at(0, f"10:{minute:02d}"))
        timers.fire_due(at(0, f"10:{minute:02d}"), alert_id=alert.pk)  # a countdown arriving as well
    fired = list(EscalationTimer.objects.filter(alert=alert).order_by("due_at").values_list("step", "fired_at"))
    assert [step for step, _ in fired] == [0, 1, 2, 3]
    assert [moment for _, moment in fired] == [at(0, "10:00"), at(0, "10:05"), at(0, "10:10"), at(0, "10:15")]
    assert Delivery.objects.filter(alert=alert, channel=Delivery.Channel.INAPP).count() == 4


def test_the_alert_keeps_the_chain_it_started_with(team, unit):
    made = chain(team, Alert.Severity.CRITICAL, [(0, StepTarget.ON_DUTY), (10, StepTarget.REGISTRAR)])
    alert = raise_alert(make_patient(team), at(0, "10:00"))
    made.steps.filter(position=1).update(target=StepTarget.TEAM, wait_minutes=60)
    timers.fire_due(at(0, "10:10"))
    assert told(alert, 1) == ["reg"]


def test_low_and_medium_wait_for_the_next_shift_in_quiet_hours_critical_does_not(team, unit):
    TeamDuty.objects.create(team=team, quiet_start=time(22), quiet_end=time(7))
    chain(team, Alert.Severity.LOW, [(0, StepTarget.ON_DUTY)])
    medium = raise_alert(make_patient(team, mrn="M1"), at(0, "23:00"), severity=Alert.Severity.MEDIUM,
                         kind=Alert.Kind.NOT_READY)
    critical = raise_alert(make_patient(team, mrn="C1"), at(0, "23:00"))
    timers.fire_due(at(0, "23:00"))
    assert told(critical, 0) == ["nightn"]
    assert told(medium, 0) == []
    assert medium.escalation.held_until == at(1, "08:00")  # Tuesday's day shift
    timers.fire_due(at(1, "08:00"))
    assert told(medium, 0) == ["dayn"]


def test_nobody_on_duty_goes_to_the_fallback_and_the_alert_says_so(team):
    TeamDuty.objects.create(team=team, fallback_email="aos.fallback@example.org")
    chain(team, Alert.Severity.HIGH, [(0, StepTarget.ON_DUTY)])
    alert = raise_alert(make_patient(team), at(0, "10:00"))
    timers.fire_due(at(0, "10:00"))
    assert told(alert, 0, Delivery.Channel.EMAIL) == ["aos.fallback@example.org"]
    alert.refresh_from_db()
    assert "Nobody was on duty for Oncology day unit: sent to aos.fallback@example.org." in alert.message
    assert alert.escalation.reached_nobody


def test_a_worsening_alert_starts_its_chain_again(team, unit):
    chain(team, Alert.Severity.HIGH, [(0, StepTarget.ON_DUTY), (30, StepTarget.REGISTRAR)])
    chain(team, Alert.Severity.CRITICAL, [(0, StepTarget.TEAM)])
    alert = raise_alert(make_patient(team), at(0, "10:00"), severity=Alert.Severity.HIGH,
                        kind=Alert.Kind.FEVER_UNKNOWN_ANC)
    timers.fire_due(at(0, "10:00"))
    hooks.alert_worsened(alert.pk, Alert.Severity.CRITICAL, "worse", {}, at(0, "10:05"))
    timers.fire_due(at(0, "11:00"))
    alert.refresh_from_db()
    assert alert.severity == Alert.Severity.CRITICAL and alert.escalation.round == 1
    assert EscalationTimer.objects.get(alert=alert, round=0, step=1).cancelled_at == at(0, "10:05")
    assert sorted(Delivery.objects.filter(alert=alert, timer__round=1, channel="inapp")
                  .values_list("recipient", flat=True)) == ["dayn", "nightn", "reg"]


def test_the_legacy_escalation_leaves_chained_alerts_to_their_chain(team, unit):
    from monitoring import alerts

    chain(team, Alert.Severity.CRITICAL, [(0, StepTarget.ON_DUTY)])
    chained = raise_alert(make_patient(team, mrn="C1"), at(0, "10:00"))
    plain = Alert.objects.create(patient=make_patient(team, mrn="P1"), kind=Alert.Kind.GRADE4_OBSERVED,
                                 severity=Alert.Severity.CRITICAL, message="x", raised_at=at(0, "10:00"))
    assert alerts.escalate_due(at(0, "11:00")) == 1
    chained.refresh_from_db(), plain.refresh_from_db()
    assert chained.escalated_at is None and plain.escalated_at is not None


def test_on_duty_command_prints_json_for_a_weekday_day_and_night(team, unit):
    chain(team, Alert.Severity.CRITICAL, [(0, StepTarget.ON_DUTY), (15, StepTarget.REGISTRAR)])

    def run(moment: str) -> dict:
        out = StringIO()
        call_command("on_duty", "Oncology day unit", "--at", moment, "--severity", "critical", "--json", stdout=out)
        return json.loads(out.getvalue())

    assert run("2026-12-07T10:00") == {"on_duty": ["dayn", "reg"], "steps": [
        {"after_minutes": 0, "notify": ["dayn"]}, {"after_minutes": 15, "notify": ["reg"]}]}
    assert run("2026-12-07T22:00")["on_duty"] == ["nightn", "reg"]
    assert run("2026-12-07T17:50")["steps"][0]["notify"] == ["dayn"]
    assert chains.plan(team, Alert.Severity.CRITICAL, at(0, "17:50"))[1].notify == ["reg"]
    out = StringIO()
    call_command("on_duty", "Oncology day unit", "--at", "2026-12-07T22:00", stdout=out)
    # As the ward's duty panel and the rota page say it (a bare weekday a week away read as the coming one).
    assert "nightn         Nurse on duty until 08:00 tomorrow" in out.getvalue()
    assert "until Tue 08:00" not in out.getvalue(), out.getvalue()
    assert "after  15 min: registrar  -> reg" in out.getvalue()


def test_demo_rota_has_different_people_by_day_and_by_night(regimens):
    call_command("load_demo", "--password", "pw", stdout=StringIO())
    for team in ("Oncology day unit", "Haematology ward"):
        out = {}
        for moment in ("2026-12-07T10:00", "2026-12-07T22:00"):
            buffer = StringIO()
            call_command("on_duty", team, "--at", moment, "--json", stdout=buffer)
            out[moment] = json.loads(buffer.getvalue())
        day, night = out["2026-12-07T10:00"], out["2026-12-07T22:00"]
        assert day["steps"][0]["notify"] != night["steps"][0]["notify"]
        assert day["on_duty"] != night["on_duty"]


def test_alert_quality_shows_time_to_each_step_escalations_nobody_on_duty_and_triage(client, team, unit):
    from django.utils import timezone

    from monitoring.alerts import duty_quality as quality
    from monitoring.models import TriageCall

    chain(team, Alert.Severity.CRITICAL, [(0, StepTarget.ON_DUTY), (10, StepTarget.REGISTRAR)])
    # A weekday at 10:00, when 'dayn' is on duty: "an hour before now" reached nobody on a Saturday
    # morning (the day unit has no weekend day shift), so the test failed on Saturdays from 09:00.
    day = timezone.localdate() - timedelta(days=1)  # the latest weekday before today, at 10:00
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    raised = datetime.combine(day, time(10, 0), tzinfo=LONDON)
    alert = raise_alert(make_patient(team), raised)
    timers.fire_due(raised + timedelta(minutes=10))
    for step in (0, 1):  # sent a minute after each step fired
        Delivery.objects.filter(alert=alert, timer__step=step).update(
            status=Delivery.Status.SENT, sent_at=raised + timedelta(minutes=10 * step + 1))
    alerts.acknowledge_alert(alert.pk, unit["reg"], "seen", now=raised + timedelta(minutes=15))
    TriageCall.objects.create(patient=alert.patient, called_at=raised, outcome="call_back")
    figures = quality.duty_quality(team, raised - timedelta(days=1), timezone.now())
    assert figures.escalations_fired == 1 and figures.reached_nobody == 0
    first, second = figures.steps
    assert (first.fired, first.to_first_delivery.median, first.answered) == (1, 1.0, 0)
    assert (second.to_first_delivery.median, second.answered, second.delivery_to_ack.median) == (11.0, 1, 4.0)
    assert ("Call back within 24 hours", 1) in figures.triage_by_outcome
    client.force_login(unit["dayn"])
    page = client.get("/alerts/quality/?days=30").content.decode()
    assert '<dd id="escalations-fired">1</dd>' in page and "11.0 / 11.0 min" in page


def test_a_fever_whose_count_ages_out_raises_a_worse_alert_with_its_own_chain(team, unit, cycle, patient):
    """Real rules: fever with a count 23 h old is high; two hours later the count is 25 h old: critical.

    Worse is news (issue 21): the worse condition is a new, unacknowledged alert linked to the one it
    replaces, and it starts the chain of its own severity; the replaced alert's chain stops.
    """
    from decimal import Decimal

    from django.utils import timezone


    chain(team, Alert.Severity.HIGH, [(0, StepTarget.ON_DUTY)])
    chain(team, Alert.Severity.CRITICAL, [(0, StepTarget.TEAM)])
    now = timezone.now()
    records.record_count(patient, clinical.parse_count(collected_at=now - timedelta(hours=23), unit="10^9/L",
                                                        anc=Decimal("2.0")))
    records.record_temperature(patient, taken_at=now - timedelta(minutes=5), temperature_c=Decimal("38.6"),
                                entered_value="38.6", entered_unit="C")
    alert = Alert.objects.get(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC)
    assert alert.severity == Alert.Severity.HIGH and alert.escalation.round == 0
    alerts.acknowledge_alert(alert.pk, unit["dayn"], "FBC booked for tomorrow", now=now)
    later = now + timedelta(hours=2)
    alerts.evaluate_alerts(cycle.pk, later)
    alert.refresh_from_db()
    worse = alert.superseded_by
    assert alert.resolved_at is not None and worse is not None
    assert worse.severity == Alert.Severity.CRITICAL and "no blood count in the last 24 h" in worse.message
    # The acknowledgement of the high alert does not cover the critical one.
    assert worse.acknowledged_at is None and worse.escalation.round == 0
    assert alert.escalation.stopped_at is not None
    timers.fire_due(later)
    assert len(Delivery.objects.filter(alert=worse, timer__isnull=False, channel="inapp")) == User.objects.filter(
        teams=team).count()


def test_until_when_follows_back_to_back_shifts_of_the_same_person(team, unit):
    registrar = next(d for d in rota.on_duty_until_off(team, at(0, "10:00")) if d.role == DutyRole.REGISTRAR)
    assert registrar.until == at(15, "00:00")  # around the clock every day: looked at for a fortnight
    nurse = rota.on_duty_until_off(team, at(0, "10:00"))[0]
    assert (nurse.user.username, nurse.until) == ("dayn", at(0, "18:00"))  # the night is someone else's


def test_starting_chains_costs_the_same_queries_for_one_alert_or_twenty(team, unit):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    TeamDuty.objects.create(team=team, quiet_start=time(22), quiet_end=time(7))
    chain(team, Alert.Severity.LOW, [(0, StepTarget.ON_DUTY), (10, StepTarget.REGISTRAR)])

    def raised(n: int, start: int) -> list[Alert]:
        return [Alert.objects.create(patient=make_patient(team, mrn=f"N{start + i}"), kind=Alert.Kind.NOT_READY,
                                     severity=Alert.Severity.MEDIUM, message="m", raised_at=at(0, "23:00"))
                for i in range(n)]

    one, twenty = raised(1, 0), raised(20, 100)
    with CaptureQueriesContext(connection) as first:
        timers.start_chains(one, at(0, "23:00"))
    with CaptureQueriesContext(connection) as second:
        timers.start_chains(twenty, at(0, "23:00"))
    assert len(first) == len(second) == 6  # chains (2), duty settings, rota (quiet hours), escalations, timers
    assert EscalationTimer.objects.filter(due_at=at(1, "08:00")).count() == 21

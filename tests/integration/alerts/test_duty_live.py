"""Escalation chains over real Redis, real workers and beat, a local SMTP server and a local SMS sink.

The escalation auditor runs every second here (DUTY_AUDITOR_SECONDS=1; 30 s in production) so the
tests take seconds. Steps are minutes apart in a real chain; the tests write due times seconds
apart into the timer rows (the rows are the record, which is what is being tested).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time as clock
from datetime import time, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from monitoring import alerts, clinical, records
from monitoring.duty import rota
from monitoring.models import (
    Alert,
    AlertEscalation,
    Delivery,
    DutyContact,
    EscalationTimer,
    RotaOverride,
    ShiftPattern,
    TeamDuty,
    TriageSymptom,
)
from monitoring.models.duty import DutyRole, StepTarget
from monitoring.triage import calls
from tests.conftest import REPO, make_patient, make_user, start_on_regimen, wait_until
from tests.integration.alerts.chains import chain
from tests.integration.triage.symptoms import load_triage_table

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

AUDITOR_SECONDS = 1.0
TOKEN = "Bearer sms-gateway-token"


class SmsGateway(BaseHTTPRequestHandler):
    """A local SMS gateway: records each POST (headers, JSON body) and answers 200."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.received.append({"auth": self.headers["Authorization"], "key": self.headers["Idempotency-Key"],
                                         **body})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def sms_gateway():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SmsGateway)
    server.daemon_threads, server.received, server.lock = True, [], threading.Lock()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_port}/send"
    yield server
    server.shutdown()
    server.server_close()


class Beat:
    """`celery beat` in its own process group, so it can be killed with SIGKILL and started again."""

    def __init__(self, env: dict, tmp_path) -> None:
        self.env, self.tmp_path, self.proc = env, tmp_path, None

    def start(self) -> None:
        # Files of its own: a beat killed with SIGKILL leaves its schedule and pidfile behind.
        name = f"beat-{os.getpid()}-{id(self)}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "neutrowatch", "beat", "-l", "info",
             "-s", str(self.tmp_path / f"{name}-schedule"), "--pidfile", str(self.tmp_path / f"{name}.pid")],
            cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.fixture
def live(isolated_worker, smtp_server, sms_gateway, settings, tmp_path):
    """Return start() -> (worker, beat): an alerts+webhooks worker and beat with SMTP and the SMS gateway."""
    env = {"DJANGO_SETTINGS_MODULE": "neutrowatch.settings",
           "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
           "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_server.server_address[1]),
           "SMS_GATEWAY_URL": sms_gateway.url, "SMS_GATEWAY_AUTH_HEADER": f"Authorization: {TOKEN}",
           "DUTY_AUDITOR_SECONDS": str(AUDITOR_SECONDS),
           "DELIVERY_CATCHUP_INTERVAL_SECONDS": "1", "DELIVERY_CATCHUP_AFTER_SECONDS": "3"}
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "SMS_GATEWAY_URL": sms_gateway.url}
    beats = []

    def start(worker=None):
        worker = worker or isolated_worker(env, concurrency=2, roles=("alerts", "webhooks"))
        beat = Beat(isolated_worker.env(env), tmp_path)
        beat.start()
        beats.append(beat)
        return worker, beat

    yield start
    for beat in beats:
        beat.stop()


@pytest.fixture
def ward(team):
    """'onduty' holds the phone now (an override of 2 h each side); 'reg' is the registrar all week."""
    people = {name: make_user(name, [team]) for name in ("onduty", "offduty", "reg")}
    for index, user in enumerate(people.values()):
        DutyContact.objects.create(user=user, mobile=f"+44770090010{index}")
    now = timezone.now()
    RotaOverride.objects.create(team=team, user=people["onduty"], starts_at=now - timedelta(hours=2),
                                ends_at=now + timedelta(hours=2))
    for weekday in range(7):
        ShiftPattern.objects.create(team=team, user=people["reg"], role=DutyRole.REGISTRAR, weekday=weekday,
                                    starts=time(0), ends=time(0))
    return people


def texts_to(gateway, user) -> list[dict]:
    with gateway.lock:
        return [m for m in gateway.received if m["to"] == user.duty_contact.mobile]


def test_a_three_step_chain_fires_in_order_and_stops_at_acknowledgement(live, ward, team, sms_gateway, regimens):
    chain(team, Alert.Severity.CRITICAL, [(0, StepTarget.ON_DUTY), (5, StepTarget.REGISTRAR),
                                          (5, StepTarget.ON_DUTY)])
    live()
    patient = make_patient(team, nurse=ward["offduty"])
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"])
    records.record_count(patient, clinical.parse_count(collected_at=timezone.now() - timedelta(hours=1),
                                                        unit="10^9/L", anc=Decimal("0.3")))
    alert = Alert.objects.get(patient=patient, kind=Alert.Kind.GRADE4_OBSERVED)
    # As if the minutes had passed: steps 2 and 3 due 3 s and 60 s from now.
    EscalationTimer.objects.filter(alert=alert, step=1).update(due_at=timezone.now() + timedelta(seconds=3))
    EscalationTimer.objects.filter(alert=alert, step=2).update(due_at=timezone.now() + timedelta(seconds=60))
    wait_until(lambda: texts_to(sms_gateway, ward["onduty"]), timeout=60)
    wait_until(lambda: texts_to(sms_gateway, ward["reg"]), timeout=60)
    assert [m["to"] for m in sms_gateway.received] == [ward["onduty"].duty_contact.mobile,
                                                       ward["reg"].duty_contact.mobile]
    assert alerts.acknowledge_alert(alert.pk, ward["onduty"], "On my way")
    EscalationTimer.objects.filter(alert=alert, step=2).update(due_at=timezone.now())  # due now: must not fire
    clock.sleep(5 * AUDITOR_SECONDS)
    last = EscalationTimer.objects.get(alert=alert, step=2)
    assert last.fired_at is None and last.cancelled_at is not None
    assert len(sms_gateway.received) == 2
    assert all(m["auth"] == TOKEN and m["key"].startswith("nw-delivery-") for m in sms_gateway.received)
    fired = list(EscalationTimer.objects.filter(alert=alert, fired_at__isnull=False).order_by("fired_at")
                 .values_list("step", flat=True))
    assert fired == [0, 1]


def seed_half_finished(team, ward, n_alerts: int, now) -> list[Alert]:
    """Alerts whose chain has sent step 0, has step 1 overdue, and steps 2 and 3 still to come.

    Step 2 falls due while the worker and beat are down (+15 s), step 3 after their restart (+40 s).
    """
    steps = [{"after_minutes": m, "target": t, "attempt": 0}
             for m, t in [(0, "on_duty"), (5, "registrar"), (10, "on_duty"), (15, "registrar")]]
    alerts = []
    for n in range(n_alerts):
        alert = Alert.objects.create(patient=make_patient(team, mrn=f"REC-{n}"), kind=Alert.Kind.GRADE4_OBSERVED,
                                     severity=Alert.Severity.CRITICAL, message="seeded", raised_at=now)
        AlertEscalation.objects.create(alert=alert, steps=steps, started_at=now)
        for index, step in enumerate(steps):
            EscalationTimer.objects.create(alert=alert, step=index, target=step["target"],
                                           due_at=now + timedelta(seconds=[-60, -5, 15, 40][index]),
                                           fired_at=now - timedelta(seconds=60) if index == 0 else None)
        alerts.append(alert)
    return alerts


def test_recovery_every_seeded_step_fires_once_in_order_after_workers_and_beat_are_killed(
        live, ward, team, smtp_server, sms_gateway):
    now = timezone.now()
    alerts = seed_half_finished(team, ward, 3, now)
    timers = EscalationTimer.objects.filter(alert__in=alerts)
    worker, beat = live()
    wait_until(lambda: timers.filter(step=1, fired_at__isnull=False).count() == 3, timeout=60)
    # Killed between steps: a delivery claimed by a worker killed mid-send is the delivery layer's
    # to recover (re-sent after CLAIM_TIMEOUT by the sweep), not the timers'.
    wait_until(lambda: not Delivery.objects.exclude(status=Delivery.Status.SENT).exists(), timeout=60)
    worker.kill()  # SIGKILL: no clean shutdown, no acks
    beat.kill()
    killed_at = timezone.now()
    wait_until(lambda: timezone.now() > now + timedelta(seconds=17), timeout=60)  # step 2 falls due while down
    assert not timers.filter(step=2, fired_at__isnull=False).exists()
    worker.start()
    live(worker)  # a new beat as well
    restarted_at = timezone.now()
    wait_until(lambda: not timers.filter(fired_at__isnull=True).exists(), timeout=120)
    wait_until(lambda: not Delivery.objects.exclude(status=Delivery.Status.SENT).exists(), timeout=60)

    for alert in alerts:
        fired = list(timers.filter(alert=alert).order_by("step").values_list("fired_at", flat=True))
        assert fired == sorted(fired), "steps fire in order"
    # Each of steps 1-3 of each alert told one person once: in-app, email and SMS.
    assert Delivery.objects.filter(timer__in=timers).count() == 3 * 3 * 3
    keys = [m["key"] for m in sms_gateway.received]
    assert len(keys) == 9 and len(set(keys)) == 9
    message_ids = [line for m in smtp_server.messages for line in m.splitlines() if line.startswith("Message-ID")]
    assert len(message_ids) == 9 and len(set(message_ids)) == 9
    # Steps that fell due while everything ran fired within one auditor period (plus the time to run it).
    after_restart = [(t.fired_at - t.due_at).total_seconds() for t in timers.filter(due_at__gt=restarted_at)]
    assert len(after_restart) == 3, "step 3 was due after the restart"
    print(f"killed at +{(killed_at - now).total_seconds():.1f} s, restarted at "
          f"+{(restarted_at - now).total_seconds():.1f} s; lateness of step 3 (due after the restart): "
          f"{sorted(after_restart)} s")
    assert all(late <= AUDITOR_SECONDS + 3 for late in after_restart)


def test_a_critical_alert_in_quiet_hours_is_sent_at_once_a_medium_one_waits(live, ward, team, sms_gateway,
                                                                            regimens):
    local = timezone.now().astimezone(rota.clinic_tz())
    TeamDuty.objects.create(team=team, quiet_start=(local - timedelta(hours=1)).time(),
                            quiet_end=(local + timedelta(hours=1)).time())
    chain(team, Alert.Severity.LOW, [(0, StepTarget.ON_DUTY)])
    live()
    from monitoring.alerts import chain_hooks as hooks

    medium = Alert.objects.create(patient=make_patient(team, mrn="MED-1"), kind=Alert.Kind.NOT_READY,
                                  severity=Alert.Severity.MEDIUM, message="not ready", raised_at=timezone.now())
    hooks.alerts_raised([medium], timezone.now())
    patient = make_patient(team, nurse=ward["offduty"])
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"])
    records.record_count(patient, clinical.parse_count(collected_at=timezone.now() - timedelta(hours=1),
                                                        unit="10^9/L", anc=Decimal("0.3")))
    text = wait_until(lambda: texts_to(sms_gateway, ward["onduty"]), timeout=60)
    assert "CRITICAL: Grade 4 neutropenia observed" in text[0]["message"]
    clock.sleep(3 * AUDITOR_SECONDS)
    assert len(sms_gateway.received) == 1  # the medium alert waits for the next shift
    assert AlertEscalation.objects.get(alert=medium).held_until > timezone.now()


def test_a_red_triage_call_reaches_the_person_on_duty(live, ward, team, sms_gateway, smtp_server):
    load_triage_table()
    chain(team, Alert.Severity.HIGH, [(0, StepTarget.ON_DUTY)])
    live()
    patient = make_patient(team, nurse=ward["offduty"])
    rigors = TriageSymptom.objects.get(name="Rigors")
    call = calls.record_call(patient, calls.CallInput(grades={rigors.pk: "red"}, caller="husband"),
                             user=ward["offduty"])
    assert call.outcome == "assess_now" and call.alert.severity == Alert.Severity.CRITICAL
    text = wait_until(lambda: texts_to(sms_gateway, ward["onduty"]), timeout=60)
    assert "Red on a telephone triage call" in text[0]["message"] and patient.mrn in text[0]["message"]
    wait_until(lambda: any("onduty@example.org" in m for m in smtp_server.messages), timeout=30)

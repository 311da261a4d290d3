"""The lifecycle gaps left as policy questions (the "safety" round): no danger hidden after an alert is raised.

Each scenario runs the real write paths and the real rules on the database, with no worker (the
save path alone must do it), on PostgreSQL and on SQLite.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import alerts, clinical, records
from monitoring.models import Alert, AlertEvent, Delivery
from monitoring.transports import email, sms, webhook
from tests.conftest import start_on_regimen

pytestmark = pytest.mark.django_db


def count(patient, anc: str, hours_ago: float):
    return records.record_count(patient, clinical.parse_count(
        collected_at=timezone.now() - timedelta(hours=hours_ago), unit="10^9/L", anc=Decimal(anc)))


def temperature(patient, celsius: str, hours_ago: float = 0.5):
    return records.record_temperature(patient, taken_at=timezone.now() - timedelta(hours=hours_ago),
                                      temperature_c=Decimal(celsius), entered_value=celsius)


def live(patient, kind) -> Alert:
    return Alert.objects.get(patient=patient, kind=kind, resolved_at__isnull=True)


# --- 3. A cleared critical nobody acknowledged ------------------------------------------------


def test_a_cleared_critical_nobody_acknowledged_still_escalates_and_its_email_says_it_cleared_unseen(
        patient, cycle):
    count(patient, "0.30", hours_ago=30)
    grade4 = live(patient, Alert.Kind.GRADE4_OBSERVED)
    count(patient, "2.10", hours_ago=2)  # recovered before anyone looked
    grade4.refresh_from_db()
    assert grade4.cleared_at is not None and grade4.acknowledged_at is None

    assert alerts.escalate_due(timezone.now() + timedelta(hours=1)) == 1

    escalation = grade4.deliveries.get(purpose=Delivery.Purpose.ESCALATE, channel=Delivery.Channel.EMAIL)
    subject, body = email.subject(escalation), email.body(escalation)
    assert "ESCALATED, not acknowledged: cleared, not seen:" in subject
    assert "no action is needed" not in body
    assert "It has since CLEARED" in body and "Nobody has acknowledged it" in body
    assert "ANC 0.300" in body or "ANC 0.30 " in body  # what happened, in the alert's own words
    assert "Still needed: make sure the patient was contacted" in body


def test_the_webhook_says_what_the_email_and_sms_say_of_a_cleared_unseen_alert(patient, cycle):
    # The e-mail and the SMS say "cleared, not seen" and give the title; the webhook's JSON had neither.
    count(patient, "0.30", hours_ago=30)
    grade4 = live(patient, Alert.Kind.GRADE4_OBSERVED)
    count(patient, "2.10", hours_ago=2)
    grade4.refresh_from_db()
    assert alerts.escalate_due(timezone.now() + timedelta(hours=1)) == 1
    escalation = grade4.deliveries.get(purpose=Delivery.Purpose.ESCALATE, channel=Delivery.Channel.EMAIL)
    assert "(cleared, not seen)" in sms.text(escalation)
    sent = webhook.payload(escalation)["alert"]
    assert sent["cleared_at"] == grade4.cleared_at.isoformat() and sent["acknowledged_at"] is None
    assert sent["title"] == grade4.title and grade4.title in email.subject(escalation)


# --- 1. A fever entered late ------------------------------------------------------------------


def test_a_fever_entered_30_hours_after_it_was_taken_raises_a_high_alert_naming_the_delay(patient, cycle):
    temperature(patient, "38.6", hours_ago=30)  # day 4 after docetaxel, no count since day 1

    alert = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    assert alert.severity == Alert.Severity.HIGH  # a telephone check now; a fever a day old is not a fever now
    assert "taken 30 h ago" in alert.message and "entered now" in alert.message
    assert "Telephone the patient now" in alert.message and "neutrophil status unknown" in alert.message
    assert alert.evidence["late_fever"] is True and alert.evidence["entered_late_hours"] == 30
    assert alert.title == "Fever entered late, neutrophil status unknown"
    assert alert.deliveries.filter(channel=Delivery.Channel.INAPP).exists()
    assert alert.deliveries.filter(channel=Delivery.Channel.EMAIL).exists()  # high: the responsible nurse's email


def test_a_late_fever_with_a_low_last_count_names_the_count(patient, cycle):
    count(patient, "0.80", hours_ago=40)
    temperature(patient, "38.4", hours_ago=30)

    alert = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    assert "ANC 0.800 x10^9/L" in alert.message and "may still be, neutropenic" in alert.message
    # Raised as "fever, neutrophil status unknown" for its urgency, but the status is known: the title says so.
    assert alert.title == "Fever entered late, last count low: may be neutropenic"


def test_every_screen_and_message_names_a_late_fever_by_what_is_known(nurse_client, patient, cycle):
    count(patient, "0.80", hours_ago=40)
    temperature(patient, "38.4", hours_ago=30)
    alert = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)

    title = "Fever entered late, last count low: may be neutropenic"
    for url in (reverse("alerts"), reverse("patient", args=[patient.pk])):
        page = nurse_client.get(url).content.decode()
        assert title in page and "neutrophil status unknown" not in page, url
    # The ward names one alert per patient (here the grade 3 count, older): never the wrong words.
    assert "neutrophil status unknown" not in nurse_client.get(reverse("ward")).content.decode()
    sent = alert.deliveries.get(channel=Delivery.Channel.EMAIL)
    assert title in email.subject(sent) and "status unknown" not in email.subject(sent)


def test_a_late_fever_then_a_fever_now_with_a_low_count_becomes_febrile_neutropenia(patient, cycle):
    temperature(patient, "38.4", hours_ago=30)
    late = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    count(patient, "0.30", hours_ago=0.5)
    temperature(patient, "38.5", hours_ago=0.2)  # the telephone check found her febrile

    late.refresh_from_db()
    fn = live(patient, Alert.Kind.FEBRILE_NEUTROPENIA)
    assert late.superseded_by_id == fn.pk and fn.severity == Alert.Severity.CRITICAL


def test_a_clearly_historical_late_fever_is_stored_raises_nothing_and_says_why(patient, regimens):
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=10)
    temperature(patient, "36.8", hours_ago=80)
    reading = temperature(patient, "38.5", hours_ago=100)  # over 72 h old, a normal reading after it

    assert reading is not None  # stored
    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC).exists()
    reason = reading.history.order_by("-history_id").first().history_change_reason
    assert reason.startswith("Entered late, no alert: historical: over 72 h old, 36.80 °C taken after it")


@pytest.mark.parametrize(("fever_hours_ago", "normal_hours_ago"), [
    (100, None),  # over 72 h old, but nothing says it ended
    (50, 40),  # a normal reading after it, but under 72 h old
])
def test_a_late_fever_is_historical_only_when_old_and_followed_by_a_normal_reading(
        patient, regimens, fever_hours_ago, normal_hours_ago):
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=10)
    if normal_hours_ago is not None:
        temperature(patient, "36.9", hours_ago=normal_hours_ago)
    temperature(patient, "38.5", hours_ago=fever_hours_ago)

    alert = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    assert alert.severity == Alert.Severity.HIGH and f"taken {fever_hours_ago} h ago" in alert.message


def test_a_late_fever_with_a_normal_count_since_raises_nothing_and_says_why(patient, cycle):
    count(patient, "2.50", hours_ago=20)
    reading = temperature(patient, "38.5", hours_ago=30)

    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC).exists()
    reason = reading.history.order_by("-history_id").first().history_change_reason
    assert reason.startswith("Entered late, no alert: not neutropenic: ANC 2.500")


def test_a_late_fever_without_chemotherapy_in_the_window_raises_nothing(patient, regimens):
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=60, n_cycles=1)
    reading = temperature(patient, "38.5", hours_ago=30)

    assert not Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC).exists()
    assert "outside the post-chemotherapy" in (reading.history.order_by("-history_id").first().history_change_reason
                                               or "")


def _form_temperature(client, patient, celsius: str, hours_ago: float) -> list[str]:
    """Enter a temperature through the nurse's form; return the messages the next page shows."""

    taken = timezone.localtime(timezone.now() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("temperature_new", args=[patient.pk]),
                           {"taken_at": taken, "value": celsius, "unit": "C", "site": "oral"}, follow=True)
    return [str(m) for m in response.context["messages"]]


def test_the_nurse_entering_a_late_fever_is_told_what_became_of_it(nurse_client, patient, regimens):
    start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=10)
    said = _form_temperature(nurse_client, patient, "38.6", hours_ago=30)
    assert any(m.startswith("Entered 30 h after it was taken: an alert was raised. Telephone the patient now")
               for m in said)

    _form_temperature(nurse_client, patient, "36.7", hours_ago=90)
    said = _form_temperature(nurse_client, patient, "38.2", hours_ago=100)
    assert any(m.startswith("Entered 100 h after it was taken: no alert (historical: over 72 h old, 36.70 °C")
               for m in said)


# --- 2. A hotter fever in an episode in hand ----------------------------------------------------


def test_a_hotter_fever_after_fever_status_unknown_was_acknowledged_is_raised_again_as_worse(patient, cycle, nurse):
    temperature(patient, "38.4", hours_ago=2)  # no count: critical
    first = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    alerts.acknowledge_alert(first.pk, nurse, "phoned: coming in")

    temperature(patient, "38.6", hours_ago=1.5)  # 0.2 °C hotter, same grade: refreshed, not news
    assert live(patient, Alert.Kind.FEVER_UNKNOWN_ANC).pk == first.pk

    temperature(patient, "39.2", hours_ago=0.5)  # into CTCAE fever grade 2

    first.refresh_from_db()
    worse = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    assert first.superseded_by_id == worse.pk and worse.acknowledged_at is None
    assert worse.message.startswith("Worse: 38.60 °C -> 39.20 °C") and "above 39.0 °C (CTCAE v5.0 fever grade 2)" \
        in worse.message
    assert "hottest 39.20 °C" in worse.message
    assert AlertEvent.objects.filter(alert=worse, kind=AlertEvent.Kind.WORSENED).exists()
    assert worse.deliveries.filter(channel=Delivery.Channel.INAPP).exists()
    assert alerts.escalate_due(timezone.now() + timedelta(hours=1)) == 1  # unseen, it escalates again


def test_readings_going_up_and_down_under_the_hottest_do_not_flap(patient, cycle, nurse):
    temperature(patient, "38.9", hours_ago=3)
    first = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    alerts.acknowledge_alert(first.pk, nurse, "in hand")
    for hours_ago, celsius in ((2.5, "38.2"), (2, "38.95"), (1.5, "38.4"), (1, "39.0"), (0.5, "38.6")):
        temperature(patient, celsius, hours_ago=hours_ago)
    assert Alert.objects.filter(patient=patient, kind=Alert.Kind.FEVER_UNKNOWN_ANC).count() == 1


def test_a_fever_half_a_degree_hotter_in_an_acknowledged_febrile_neutropenia_is_worse(patient, cycle, nurse):
    count(patient, "0.30", hours_ago=3)
    temperature(patient, "38.3", hours_ago=2)
    fn = live(patient, Alert.Kind.FEBRILE_NEUTROPENIA)
    alerts.acknowledge_alert(fn.pk, nurse, "antibiotics given", antibiotics_given_at=timezone.now())

    temperature(patient, "38.8", hours_ago=0.5)

    worse = live(patient, Alert.Kind.FEBRILE_NEUTROPENIA)
    assert worse.pk != fn.pk and "38.30 °C -> 38.80 °C" in worse.message and "0.50 °C hotter" in worse.message
    assert worse.antibiotics_given_at is not None  # handed on: the antibiotics were given


def test_a_worse_febrile_neutropenia_shows_the_antibiotics_already_given(patient, cycle, nurse, nurse_client):
    # The worse alert is news (unacknowledged) and carries the antibiotic time of the one it replaces, but
    # no screen showed it: the ward offered "Record antibiotic time" and the page asked for antibiotics
    # within 60 minutes as if none had been given.
    count(patient, "0.30", hours_ago=3)
    temperature(patient, "38.3", hours_ago=2)
    fn = live(patient, Alert.Kind.FEBRILE_NEUTROPENIA)
    given = timezone.now() - timedelta(hours=1)
    alerts.acknowledge_alert(fn.pk, nurse, "antibiotics given", antibiotics_given_at=given)
    temperature(patient, "39.3", hours_ago=0.5)
    worse = live(patient, Alert.Kind.FEBRILE_NEUTROPENIA)
    assert worse.acknowledged_at is None and worse.antibiotics_given_at is not None

    given_words = f"antibiotics {timezone.localtime(given):%H:%M}"
    page = nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    ward = nurse_client.get("/").content.decode()
    assert given_words in page.split(f'id="alert-{worse.pk}"')[1].split("</article>")[0]
    assert given_words in ward and "Record antibiotic time" not in ward


def test_a_critical_alert_without_words_of_its_own_shows_what_its_rule_says_to_do(patient, cycle, nurse_client):
    # "Fever on chemotherapy, neutrophil status unknown" (critical) showed only the default next step,
    # "Read the alert and act per local policy", with the rule's "treat as possible neutropenic sepsis"
    # folded away under "Full alert text".
    temperature(patient, "38.9", hours_ago=0.5)
    fever = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    assert fever.severity == Alert.Severity.CRITICAL
    page = nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    shown = page.split(f'id="alert-{fever.pk}"')[1].split("<details")[0]
    assert "treat as possible neutropenic sepsis, urgent FBC and assessment" in shown


def test_an_alert_replaced_by_a_worse_one_does_not_read_as_over_in_the_history(patient, cycle, nurse, nurse_client):
    # The inbox's "Resolved" and the patient's "Alert history" gave a superseded febrile neutropenia a
    # resolved time and nothing else, as if the episode were over while its worse alert was live.
    count(patient, "0.30", hours_ago=3)
    temperature(patient, "38.3", hours_ago=2)
    fn = live(patient, Alert.Kind.FEBRILE_NEUTROPENIA)
    alerts.acknowledge_alert(fn.pk, nurse, "antibiotics given", antibiotics_given_at=timezone.now())
    temperature(patient, "39.3", hours_ago=0.5)
    assert live(patient, Alert.Kind.FEBRILE_NEUTROPENIA).pk != fn.pk

    inbox = nurse_client.get("/alerts/").content.decode()
    row = inbox.split(f'<tr data-alert="{fn.pk}">')[1].split("</tr>")[0]
    assert "replaced by a worse alert" in row
    history = nurse_client.get(f"/patients/{patient.pk}/").content.decode().split("Alert history")[1]
    assert "replaced by a worse alert" in history


def test_febrile_neutropenia_after_an_acknowledged_escalated_fever_escalates_if_nobody_sees_it(patient, cycle, nurse):
    temperature(patient, "38.6", hours_ago=2)
    fever = live(patient, Alert.Kind.FEVER_UNKNOWN_ANC)
    assert alerts.escalate_due(timezone.now() + timedelta(hours=1)) == 1
    alerts.acknowledge_alert(fever.pk, nurse, "phoned")

    count(patient, "0.60", hours_ago=0.5)  # grade 3 (high), so febrile neutropenia is the only critical

    fn = live(patient, Alert.Kind.FEBRILE_NEUTROPENIA)
    assert fn.escalated_at is None  # not handed on from an alert someone had in hand
    assert alerts.escalate_due(timezone.now() + timedelta(hours=2)) == 1
    assert fn.deliveries.filter(purpose=Delivery.Purpose.ESCALATE).exists()


# --- 5. A forecast does not clear a "not ready" that a measured count raised ---------------------


def _forecast_ready(cycle, p_ready: float, next_day1):
    from monitoring.models import Forecast

    now = timezone.now()
    cycle.refresh_from_db()
    Forecast.objects.update_or_create(cycle=cycle, defaults=dict(
        input_version=cycle.input_version, inputs_digest="t", computed_at=now, as_of=now, nadir_anc_1e9_per_l=0.9,
        nadir_lo80=0.6, nadir_hi80=1.4, nadir_at=now - timedelta(days=10), p_grade4=0.05, p_ready=p_ready,
        next_day1=next_day1, ready_threshold_1e9_per_l=1.5))


def test_after_a_delay_a_forecast_alone_does_not_clear_not_ready_raised_by_a_low_count(patient, regimens):
    from monitoring import treatment

    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=20)
    cycle2 = cycle1.course.cycles.get(number=2)
    count(patient, "1.10", hours_ago=2)  # pre-dose for tomorrow: not ready
    alert = live(patient, Alert.Kind.NOT_READY)
    new_day1 = cycle2.planned_day1 + timedelta(days=7)
    treatment.delay_cycle(cycle2, new_day1, "ANC 1.1 before cycle 2")
    _forecast_ready(cycle1, p_ready=0.9, next_day1=new_day1)  # the model thinks she will have recovered

    alerts.evaluate_alerts(cycle1.pk)  # the worker's recompute and the sweep

    alert.refresh_from_db()
    assert alert.resolved_at is None
    assert "the last pre-dose ANC, 1.100 x10^9/L" in alert.latest_message
    assert "a forecast does not clear a measured count" in alert.latest_message

    count(patient, "1.80", hours_ago=1)  # a measured count at the threshold or above answers it
    _forecast_ready(cycle1, p_ready=0.9, next_day1=new_day1)
    alerts.evaluate_alerts(cycle1.pk)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_a_forecast_still_adds_not_ready_after_a_delay(patient, regimens):
    from monitoring import treatment

    cycle1 = start_on_regimen(patient, regimens["DOCETAXEL-75-Q3W"], days_ago=20)
    cycle2 = cycle1.course.cycles.get(number=2)
    new_day1 = cycle2.planned_day1 + timedelta(days=7)
    treatment.delay_cycle(cycle2, new_day1, "patient request")
    _forecast_ready(cycle1, p_ready=0.2, next_day1=new_day1)

    alerts.evaluate_alerts(cycle1.pk)

    assert "Predicted not ready" in live(patient, Alert.Kind.NOT_READY).message

"""The SMS gateway transport against a local HTTP server (in-process deliver(), as the worker calls it)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from monitoring import alerts, jobs
from monitoring.models import Alert, Delivery
from tests.conftest import make_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway(webhook_server, settings, monkeypatch):
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "SMS_GATEWAY_URL": webhook_server.url,
                            "SMS_GATEWAY_AUTH_HEADER": "X-Api-Key: k3y",
                            "SMS_GATEWAY_PAYLOAD": '{"number": $to, "text": $body, "ref": $key}'}
    retries = []
    monkeypatch.setattr(jobs, "publish_delivery", lambda *args, **kwargs: retries.append(args) or True)
    webhook_server.retries = retries
    return webhook_server


def sms_delivery(team) -> Delivery:
    alert = Alert.objects.create(patient=make_patient(team, mrn="SMS-1"), kind=Alert.Kind.FEBRILE_NEUTROPENIA,
                                 severity=Alert.Severity.CRITICAL, message="Febrile \"neutropenia\"",
                                 raised_at="2026-12-07T10:00Z")
    return Delivery.objects.create(alert=alert, channel=Delivery.Channel.SMS, recipient="+447700900123")


def test_an_sms_is_the_template_filled_with_json_strings_and_the_auth_header(gateway, team):
    delivery = sms_delivery(team)
    assert alerts.deliver(delivery.pk).status == Delivery.Status.SENT
    headers, body = gateway.received[0]
    sent = json.loads(body)
    assert sent["number"] == "+447700900123" and sent["ref"] == f"nw-delivery-{delivery.pk}"
    assert sent["text"].startswith("NeutroWatch CRITICAL: Febrile neutropenia suspected - SMS-1 AL.")
    assert "Lovelace" not in sent["text"]  # MRN and initials only
    assert headers["X-Api-Key"] == "k3y" and headers["Idempotency-Key"] == f"nw-delivery-{delivery.pk}"


def test_a_form_gateway_gets_form_encoded_values_so_an_ampersand_stays_in_the_text(gateway, team, settings):
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "SMS_GATEWAY_PAYLOAD": "to=$to&text=$body&ref=$key",
                            "SMS_GATEWAY_CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8"}
    alert = Alert.objects.create(patient=make_patient(team, mrn="A&B=1+2"), kind=Alert.Kind.GRADE4_OBSERVED,
                                 severity=Alert.Severity.CRITICAL, message="ANC 0.2", raised_at="2026-12-07T10:00Z")
    delivery = Delivery.objects.create(alert=alert, channel=Delivery.Channel.SMS, recipient="+447700900123")
    assert alerts.deliver(delivery.pk).status == Delivery.Status.SENT
    sent = parse_qs(gateway.received[0][1].decode(), strict_parsing=True)
    assert sorted(sent) == ["ref", "text", "to"]  # nothing in the text made a parameter of its own
    assert sent["to"] == ["+447700900123"] and sent["ref"] == [f"nw-delivery-{delivery.pk}"]
    assert " - A&B=1+2 AL. Acknowledge: " in sent["text"][0]


def test_a_gateway_error_is_retried_with_the_same_key_and_a_refusal_is_final(gateway, team):
    delivery = sms_delivery(team)
    gateway.statuses = [503]
    assert alerts.deliver(delivery.pk).status == Delivery.Status.RETRYING
    assert gateway.retries and alerts.deliver(delivery.pk, attempt=1).status == Delivery.Status.SENT
    keys = {headers["Idempotency-Key"] for headers, _ in gateway.received}
    assert len(gateway.received) == 2 and keys == {f"nw-delivery-{delivery.pk}"}
    refused = Delivery.objects.create(alert=delivery.alert, channel=Delivery.Channel.SMS, recipient="not-a-number")
    gateway.statuses = [400]
    assert alerts.deliver(refused.pk).status == Delivery.Status.FAILED


def test_no_gateway_configured_is_a_permanent_failure(settings, team):
    settings.NEUTROWATCH = {**settings.NEUTROWATCH, "SMS_GATEWAY_URL": ""}
    assert alerts.deliver(sms_delivery(team).pk).status == Delivery.Status.FAILED
    assert "SMS_GATEWAY_URL" in Delivery.objects.get().last_error


def test_sms_goes_to_the_webhooks_queue_like_other_http_deliveries(settings):
    from monitoring import routing

    assert routing.delivery_queue("sms") == settings.NEUTROWATCH["WEBHOOKS_QUEUE"]

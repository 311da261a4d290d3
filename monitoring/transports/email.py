"""Email through Django's email backend (SMTP in production, console by default, locmem in tests).

The subject carries no more than the MRN and the patient's initials: email leaves the
hospital's systems, so names stay out of it.
"""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone

from monitoring.transports import TransportError

# SMTP reply codes 5xx are permanent (RFC 5321 4.2.1); 4xx and network failures are transient.
PERMANENT_SMTP_CODE = 500
# Message-IDs of alert emails: stable per delivery so that a client can spot a resent copy.
MESSAGE_ID_DOMAIN = "neutrowatch.invalid"


def send(delivery) -> None:
    message = EmailMessage(
        subject=subject(delivery),
        body=body(delivery),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.recipient],
        # At least once: a resent attempt carries the same Message-ID and delivery id.
        headers={"X-NeutroWatch-Delivery": str(delivery.pk), "Idempotency-Key": f"nw-delivery-{delivery.pk}",
                 "Message-ID": f"<nw-delivery-{delivery.pk}@{MESSAGE_ID_DOMAIN}>"},
    )
    try:
        get_connection(fail_silently=False).send_messages([message])
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise TransportError(f"recipient refused: {error.recipients}",
                             permanent=all(c >= PERMANENT_SMTP_CODE for c in codes)) from error
    except smtplib.SMTPResponseException as error:
        raise TransportError(f"SMTP {error.smtp_code}: {error.smtp_error!r}",
                             permanent=error.smtp_code >= PERMANENT_SMTP_CODE) from error
    except (smtplib.SMTPException, OSError) as error:
        raise TransportError(f"email not sent: {error}") from error


def subject(delivery) -> str:
    alert = delivery.alert
    prefix = "ESCALATED, not acknowledged: " if delivery.purpose == "escalate" else ""
    who = f"{alert.patient.mrn} {alert.patient.initials}" if alert.patient_id else f"unregistered MRN {alert.mrn}"
    return f"[NeutroWatch] {prefix}{alert.get_severity_display()}: {alert.get_kind_display()} - {who}"


def body(delivery) -> str:
    alert = delivery.alert
    site = settings.NEUTROWATCH["SITE_URL"].rstrip("/")
    if alert.patient_id is None:
        who = f"MRN {alert.mrn}: nobody has registered this MRN"
    else:
        who = (f"Patient {alert.patient.mrn} ({alert.patient.initials}), "
               + (f"cycle {alert.cycle.number}" if alert.cycle_id else "no active cycle"))
    lines = [who, "", alert.message]
    if alert.latest_message and alert.latest_message != alert.message:
        lines += ["", f"Now: {alert.latest_message}"]  # the present beside what raised it (issue 21)
    if alert.cleared_at is not None:
        lines += ["", f"The condition cleared at {timezone.localtime(alert.cleared_at):%Y-%m-%d %H:%M %Z}: no action "
                      "is needed for it now; acknowledge the alert to close it."]
    if delivery.purpose == "escalate":
        minutes = settings.NEUTROWATCH["ESCALATE_AFTER_MINUTES"]
        if delivery.timer_id is not None:  # a step of the team's escalation chain (monitoring/duty/)
            minutes = max(0, int((delivery.timer.due_at - alert.raised_at).total_seconds() // 60))
        lines += ["", f"Nobody has acknowledged this {alert.get_severity_display().lower()} alert "
                      f"for {minutes} minutes; it was raised at {alert.raised_at:%Y-%m-%d %H:%M %Z}."]
    lines += ["", f"Open the alert inbox to acknowledge it: {site}/alerts/"]
    return "\n".join(lines)

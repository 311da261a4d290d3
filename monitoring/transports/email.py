"""Email through Django's email backend (SMTP in production, console by default, locmem in tests).

The subject carries no more than the MRN and the patient's initials: email leaves the
hospital's systems, so names stay out of it.
"""

from __future__ import annotations

import smtplib
import unicodedata

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.urls import reverse
from django.utils import timezone

from monitoring.transports import TransportError

# SMTP reply codes 5xx are permanent (RFC 5321 4.2.1); 4xx and network failures are transient.
PERMANENT_SMTP_CODE = 500
# Message-IDs of alert emails: stable per delivery so that a client can spot a resent copy.
MESSAGE_ID_DOMAIN = "neutrowatch.invalid"
ADMIN_CHANGE = "admin:monitoring_registrationrequest_change"


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
    _send(message)


def send_registration_waiting(request, initials: str, recipients: list[str]) -> None:
    """Tell administrators that a nurse's registration request waits (MRN and initials only, as alerts)."""
    site = settings.NEUTROWATCH["SITE_URL"].rstrip("/")
    nurse = request.requested_by
    who = (nurse.get_full_name() or nurse.get_username()) if nurse is not None else "A nurse"
    when = timezone.localtime(request.requested_at)
    message = EmailMessage(
        subject=f"[NeutroWatch] Registration waiting: MRN {request.mrn} {initials} ({request.team})",
        body="\n".join([
            f"{who} asks to register MRN {request.mrn} ({initials}) in {request.team} ({when:%Y-%m-%d %H:%M %Z}).",
            "Until it is registered nobody can record this patient's counts, and lab results for the MRN are",
            "held as unregistered.",
            "",
            f"Register it, or refuse it with a note for the nurse: {site}{reverse(ADMIN_CHANGE, args=[request.pk])}",
        ]),
        from_email=settings.DEFAULT_FROM_EMAIL, to=recipients,
        headers={"Message-ID": f"<nw-registration-{request.pk}@{MESSAGE_ID_DOMAIN}>"},
    )
    _send(message)


def _send(message: EmailMessage) -> None:
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
    if alert.cleared_at is not None and alert.acknowledged_at is None:
        prefix += "cleared, not seen: "  # the danger happened and nobody has said they saw it
    who = f"{alert.patient.mrn} {alert.patient.initials}" if alert.patient_id else f"unregistered MRN {alert.mrn}"
    return one_line(f"[NeutroWatch] {prefix}{alert.get_severity_display()}: {alert.title} - {who}")


def one_line(header: str) -> str:
    """Return a header value with each control character shown as U+FFFD.

    An unregistered MRN is as the laboratory sent it (a line break and all: the importer keeps the
    record for review and still raises its alert); a header cannot hold a line break, and Django
    refuses to send one, so the critical email would fail on every attempt.
    """
    return "".join("\ufffd" if unicodedata.category(char) == "Cc" else char for char in header)


def body(delivery) -> str:
    alert = delivery.alert
    site = settings.NEUTROWATCH["SITE_URL"].rstrip("/")
    if alert.patient_id is None:
        who = f"MRN {alert.mrn}: nobody has registered this MRN"
    else:
        who = f"Patient {alert.patient.mrn} ({alert.patient.initials}), {alert.cycle_words}"
    lines = [who, "", alert.message]
    if alert.latest_message and alert.latest_message != alert.message:
        lines += ["", f"Now: {alert.latest_message}"]  # the present beside what raised it (issue 21)
    if alert.cleared_at is not None:
        lines += ["", *_cleared_lines(alert)]
    if delivery.purpose == "escalate":
        minutes = settings.NEUTROWATCH["ESCALATE_AFTER_MINUTES"]
        if delivery.timer_id is not None:  # a step of the team's escalation chain (monitoring/duty/)
            minutes = max(0, int((delivery.timer.due_at - alert.raised_at).total_seconds() // 60))
        raised = f"{timezone.localtime(alert.raised_at):%Y-%m-%d %H:%M %Z}"
        lines += ["", f"Nobody has acknowledged this {alert.get_severity_display().lower()} alert "
                      f"for {minutes} minutes; it was raised at {raised}."]
    lines += ["", f"Open the alert inbox to acknowledge it: {site}/alerts/"]
    return "\n".join(lines)


def _cleared_lines(alert) -> list[str]:
    """Return what a cleared critical alert still asks, in plain words (docs/alerts.md, "Cleared, not seen").

    The condition is over, but the danger happened: until someone acknowledges the alert nobody has
    said they saw it, and a grade 4 count or a febrile neutropenia usually changes the next cycle.
    """
    at = f"{timezone.localtime(alert.cleared_at):%Y-%m-%d %H:%M %Z}"
    if alert.acknowledged_at is not None:
        return [f"The condition cleared at {at}."]
    raised = f"{timezone.localtime(alert.raised_at):%Y-%m-%d %H:%M %Z}"
    return [f"What happened: this critical alert was raised at {raised} (above). It has since CLEARED, at {at}: "
            "the condition is over for now. Nobody has acknowledged "
            "it, so nobody has said they saw it.",
            "Still needed: make sure the patient was contacted and is well, and that whoever plans the next cycle "
            "knows (a grade 4 count or febrile neutropenia usually changes the next dose or adds G-CSF); then "
            "acknowledge the alert to close it."]

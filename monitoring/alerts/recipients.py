"""Who is told of an alert, on which channel.

- in-app: the patient's responsible nurse; without one (or if she left the team), every active
  nurse of the patient's team (every active member if the team has no nurses). A CRITICAL
  alert goes to every active nurse of the team at once (and the responsible nurse);
- email: the same people, for alerts of severity >= NEUTROWATCH["EMAIL_MIN_SEVERITY"] (high);
  a critical alert is emailed to the responsible nurse and the team's escalation contact;
- webhook: the team's URL, if configured, for severity >= NEUTROWATCH["WEBHOOK_MIN_SEVERITY"];
- an alert with no patient (a result for an MRN nobody has registered): the named list
  NEUTROWATCH["UNREGISTERED_RESULT_RECIPIENTS"] (usernames in-app and by email, addresses by
  email); left empty, every active administrator and every team's escalation contact.
"""

from __future__ import annotations

from django.conf import settings

from monitoring.models import Alert, Delivery, Team, User


def notify_recipients(patient, members: list[User] | None = None) -> list[User]:
    """Return the responsible nurse, or else the team's active nurses (else all its members)."""
    members = _team_members([patient.team_id])[patient.team_id] if members is None else members
    nurse = next((u for u in members if u.pk == patient.responsible_nurse_id), None)
    if nurse is not None:
        return [nurse]
    nurses = [user for user in members if user.role == User.Role.NURSE]
    return nurses or list(members)


def critical_recipients(patient, members: list[User] | None = None) -> tuple[list[User], list[str]]:
    """Return (in-app, email) recipients of a critical alert: the whole team at once.

    In-app: every active nurse of the patient's team, and the responsible nurse (every active
    member if the team has no nurses). Email: the responsible nurse (else the usual recipients)
    and the team's escalation contact.
    """
    members = _team_members([patient.team_id])[patient.team_id] if members is None else members
    inapp = [u for u in members if u.role == User.Role.NURSE or u.pk == patient.responsible_nurse_id] or members
    emails = [u.email for u in notify_recipients(patient, members) if u.email]
    if patient.team.escalation_email:
        emails.append(patient.team.escalation_email)
    return inapp, sorted(set(emails))


def _team_members(team_ids) -> dict[int, list[User]]:
    """Return the active members of each team, in a stable order (one query)."""
    members: dict[int, list[User]] = {team_id: [] for team_id in team_ids}
    links = User.teams.through.objects.filter(team_id__in=list(team_ids), user__is_active=True).select_related("user")
    for link in links.order_by("user_id"):
        members[link.team_id].append(link.user)
    return members


def unregistered_recipients() -> tuple[list[User], list[str]]:
    """Return (in-app, email) recipients of an alert with no patient: the named list, or its default."""
    named = settings.NEUTROWATCH["UNREGISTERED_RESULT_RECIPIENTS"]
    if named:
        users = list(User.objects.filter(is_active=True, username__in=[n for n in named if "@" not in n])
                     .order_by("pk"))
        addresses = [n for n in named if "@" in n]
    else:
        users = list(User.administrators().order_by("pk"))
        addresses = list(Team.objects.exclude(escalation_email="").values_list("escalation_email", flat=True))
    return users, sorted({*addresses, *(u.email for u in users if u.email)})


def notifications(alerts: list[Alert]) -> list[Delivery]:
    config = settings.NEUTROWATCH
    members = _team_members({alert.patient.team_id for alert in alerts if alert.patient_id is not None})
    rows = []
    for alert in alerts:
        patient = alert.patient
        if patient is None:
            inapp, emails = unregistered_recipients()
            rows += [Delivery(alert=alert, channel=Delivery.Channel.INAPP, recipient=p.username) for p in inapp]
            rows += [Delivery(alert=alert, channel=Delivery.Channel.EMAIL, recipient=e) for e in emails]
            continue
        team_members = members[patient.team_id]
        if alert.severity >= Alert.Severity.CRITICAL:
            inapp, emails = critical_recipients(patient, team_members)
        else:
            inapp, emails = notify_recipients(patient, team_members), []
            if alert.severity >= config["EMAIL_MIN_SEVERITY"]:
                emails = sorted({p.email for p in inapp if p.email})
        rows += [Delivery(alert=alert, channel=Delivery.Channel.INAPP, recipient=p.username) for p in inapp]
        rows += [Delivery(alert=alert, channel=Delivery.Channel.EMAIL, recipient=e) for e in emails]
        if patient.team.webhook_url and alert.severity >= config["WEBHOOK_MIN_SEVERITY"]:
            rows.append(Delivery(alert=alert, channel=Delivery.Channel.WEBHOOK, recipient=patient.team.webhook_url))
    return rows

"""The demo's rotas and chains: a day unit open 08:00-18:00 on weekdays, an acute oncology
service overnight and at weekends, an on-call registrar (load_demo calls `load_rotas`)."""

from __future__ import annotations

from datetime import time

from monitoring.models import EscalationChain, EscalationStep, ShiftPattern, Team, TeamDuty, User
from monitoring.models.duty import DutyRole, StepTarget

DAY, NIGHT = (time(8), time(18)), (time(18), time(8))
WEEKDAYS, WEEKEND = range(0, 5), range(5, 7)
# (username, first name, last name): the night and weekend acute oncology nurse, the registrar.
NIGHT_PEOPLE = [("aonurse", "Alex", "Acute oncology"), ("registrar", "Rui", "Registrar")]
# Critical: the nurse on duty at once; the registrar after 15 minutes; the whole team after 15
# more; all of it once more 30 minutes later. High: the nurse, then the registrar after 30 minutes.
CHAINS = {4: ([(0, StepTarget.ON_DUTY), (15, StepTarget.REGISTRAR), (15, StepTarget.TEAM)], 1),
          3: ([(0, StepTarget.ON_DUTY), (30, StepTarget.REGISTRAR)], 0)}


def load_rotas(teams: list[Team], day_nurses: list[str]) -> None:
    """Give each team a week of shifts (idempotent: a team with a rota is left alone)."""
    night = {}
    for username, first, last in NIGHT_PEOPLE:
        night[username], created = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last, "role": User.Role.NURSE,
                                         "email": f"{username}@example.org"})
        if created:
            night[username].set_unusable_password()
            night[username].save()
        night[username].teams.add(*teams)
    for team, day_nurse in zip(teams, day_nurses, strict=True):
        if ShiftPattern.objects.filter(team=team).exists():
            continue
        nurse = User.objects.get(username=day_nurse)
        shifts = [(nurse, DutyRole.NURSE, d, DAY) for d in WEEKDAYS]
        shifts += [(night["aonurse"], DutyRole.NURSE, d, DAY) for d in WEEKEND]
        shifts += [(night["aonurse"], DutyRole.NURSE, d, NIGHT) for d in range(7)]
        shifts += [(night["registrar"], DutyRole.REGISTRAR, d, hours) for d in range(7) for hours in (DAY, NIGHT)]
        ShiftPattern.objects.bulk_create(ShiftPattern(team=team, user=user, role=role, weekday=day, starts=start,
                                                      ends=end) for user, role, day, (start, end) in shifts)
        TeamDuty.objects.get_or_create(team=team, defaults={"quiet_start": time(22), "quiet_end": time(7)})
        for severity, (steps, repeats) in CHAINS.items():
            chain, created = EscalationChain.objects.get_or_create(team=team, severity=severity,
                                                                   defaults={"repeat_times": repeats})
            if created:
                EscalationStep.objects.bulk_create(EscalationStep(chain=chain, position=i, wait_minutes=wait,
                                                                  target=target)
                                                   for i, (wait, target) in enumerate(steps))
